-- The NAR files with no good location in the store $1, by URL: what
-- populate copies in. A missing or corrupt location there counts as none.
-- Served by payload_location's primary key (url, store_id).
SELECT f.url, f.file_hash, f.file_size, f.compression
FROM nar_file f
WHERE NOT EXISTS (
    SELECT 1 FROM payload_location l
    WHERE l.url = f.url AND l.store_id = $1 AND l.state = 'good')
ORDER BY f.url;
