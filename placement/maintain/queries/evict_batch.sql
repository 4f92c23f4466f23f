-- The next $4 good locations of store $1, least recently fetched first,
-- after the file ($2 created_at, $3 url) that ended the previous batch
-- ('-infinity' and '' for the first).
--
-- The file's upload time (nar_file's created_at) stands for its last
-- fetch: what was built long ago is the least likely to be asked for, and
-- a file uploaded again is the same row, so it keeps its first time. It
-- is an index's order; the last uses that edges count (path_last_fetched,
-- by path, not by file) are not.
SELECT l.url, l.key, l.state, f.file_hash, f.file_size, f.created_at
FROM payload_location l JOIN nar_file f ON f.url = l.url
WHERE l.store_id = $1 AND l.state = 'good' AND (f.created_at, f.url) > ($2::timestamptz, $3::text)
ORDER BY f.created_at, f.url
LIMIT $4;
