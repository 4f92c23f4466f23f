-- The next $4 NAR files store $1 holds no good copy of, newest first,
-- after the file ($2 created_at, $3 url) that ended the previous batch
-- ('infinity' and '' for the first). Newest first, because a store that
-- cannot take everything should hold what clients are likeliest to fetch.
-- What is left is always read from payload_location, so a pass that was
-- stopped resumes where it stopped.
--
-- With each file, its good copies elsewhere, best source first (as
-- sources.sql orders them), so that a copy needs no query of its own to
-- find them: the stores' ids and the keys there, in two arrays of one
-- order.
SELECT f.url, f.file_hash, f.file_size, f.created_at,
       coalesce(src.stores, '{}'), coalesce(src.keys, '{}')
FROM nar_file f
LEFT JOIN LATERAL (
    SELECT array_agg(l.store_id ORDER BY s.write_only, s.download_priority DESC NULLS LAST, s.upload_priority DESC NULLS LAST, s.id) AS stores,
           array_agg(l.key ORDER BY s.write_only, s.download_priority DESC NULLS LAST, s.upload_priority DESC NULLS LAST, s.id) AS keys
    FROM payload_location l JOIN store s ON s.id = l.store_id
    WHERE l.url = f.url AND l.store_id <> $1 AND l.state = 'good'
) src ON true
WHERE (f.created_at, f.url) < ($2::timestamptz, $3::text)
  AND NOT EXISTS (SELECT FROM payload_location l WHERE l.url = f.url AND l.store_id = $1 AND l.state = 'good')
ORDER BY f.created_at DESC, f.url DESC
LIMIT $4;
