-- A copy of every NAR file in each of eu and us, but for every 1,000th
-- file, missing from eu, and every 10,000th, missing from both: what the
-- stores panel counts. Written with the row trigger that keeps
-- store_usage off (it would update the same two rows once a copy), and
-- store_usage then set as that trigger keeps it: the bytes and files of
-- every location but a missing one. One transaction.
ALTER TABLE payload_location DISABLE TRIGGER store_usage_location;
INSERT INTO payload_location (url, store_id, key, size, state)
SELECT f.url, s.id, substr(f.url, 5), f.file_size,
       CASE WHEN abs(hashtext(f.url)) % 10000 = 0 THEN 'missing'
            WHEN s.name = 'eu' AND abs(hashtext(f.url)) % 1000 = 0 THEN 'missing'
            ELSE 'good' END
FROM nar_file f CROSS JOIN store s
WHERE s.name IN ('eu', 'us');
ALTER TABLE payload_location ENABLE TRIGGER store_usage_location;
UPDATE store_usage u SET bytes = l.bytes, files = l.files
FROM (SELECT store_id, coalesce(sum(size) FILTER (WHERE state <> 'missing'), 0) AS bytes,
             count(*) FILTER (WHERE state <> 'missing') AS files
      FROM payload_location GROUP BY store_id) l
WHERE u.store_id = l.store_id;
