-- A NAR file for each path (nar/<hash>.nar.xz, 1 to 64 MiB), listed by
-- its path's narinfo, and two stores, eu and us, with limits as an
-- operator would set them.
WITH stores AS (
    INSERT INTO store (name, kind, base_url, region, populate, soft_max_size, max_size)
    VALUES ('eu', 's3', 'http://eu.example', 'eu', true, 60000000000000, 64000000000000),
           ('us', 's3', 'http://us.example', 'us', true, NULL, NULL)
), files AS (
    INSERT INTO nar_file (url, file_hash, file_size, compression, created_at)
    SELECT 'nar/' || n.hash || '.nar.xz', n.hash, 1048576 + (abs(hashtext(n.hash)) % 66060288), 'xz', n.created_at
    FROM narinfo n
    RETURNING url
)
INSERT INTO narinfo_file (narinfo_hash, url)
SELECT substr(url, 5, 32), url FROM files;
