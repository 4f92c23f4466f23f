-- The next $4 NAR files store $1 holds no good copy of, newest first,
-- after the file ($2 created_at, $3 url) that ended the previous batch
-- ('infinity' and '' for the first). Newest first, because a store that
-- cannot take everything should hold what clients are likeliest to fetch.
-- What is left is always read from payload_location, so a pass that was
-- stopped resumes where it stopped.
SELECT f.url, f.file_hash, f.file_size, f.created_at
FROM nar_file f
WHERE (f.created_at, f.url) < ($2::timestamptz, $3::text)
  AND NOT EXISTS (SELECT FROM payload_location l WHERE l.url = f.url AND l.store_id = $1 AND l.state = 'good')
ORDER BY f.created_at DESC, f.url DESC
LIMIT $4;
