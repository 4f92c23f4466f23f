-- A NAR file for each of the $1 paths (nar/<hash>.nar.xz, 1 to 64 MiB),
-- listed by its path's narinfo, with a good copy in each of two stores,
-- eu and us (priority and limits as an operator would set them), but for
-- every 1,000th file, missing from eu, and every 10,000th, missing from
-- both: what the stores panel counts. us runs a populate job.
WITH stores AS (
    INSERT INTO store (name, kind, base_url, region, populate, soft_max_size, max_size)
    VALUES ('eu', 's3', 'http://eu.example', 'eu', true, 60000000000000, 64000000000000),
           ('us', 's3', 'http://us.example', 'us', true, NULL, NULL)
    RETURNING id, name
), files AS (
    INSERT INTO nar_file (url, file_hash, file_size, compression, created_at)
    SELECT 'nar/' || n.hash || '.nar.xz', n.hash, 1048576 + (abs(hashtext(n.hash)) % 66060288), 'xz', n.created_at
    FROM narinfo n
    RETURNING url, file_size
), listed AS (
    INSERT INTO narinfo_file (narinfo_hash, url)
    SELECT substr(url, 5, 32), url FROM files
)
INSERT INTO payload_location (url, store_id, key, size, state)
SELECT f.url, s.id, substr(f.url, 5), f.file_size,
       CASE WHEN abs(hashtext(f.url)) % 10000 = 0 THEN 'missing'
            WHEN s.name = 'eu' AND abs(hashtext(f.url)) % 1000 = 0 THEN 'missing'
            ELSE 'good' END
FROM files f CROSS JOIN stores s;
