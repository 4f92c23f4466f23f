-- Up to $3 good locations of store $1 not verified since $2 (the start of
-- this verification), least recently verified first and never verified
-- before all, leaving out $4, those this verification could not read.
-- A location verified here gets a verified_at after $2, so the next batch
-- does not return it again.
SELECT l.url, l.key, f.file_hash, f.file_size
FROM payload_location l JOIN nar_file f ON f.url = l.url
WHERE l.store_id = $1 AND l.state = 'good' AND (l.verified_at IS NULL OR l.verified_at < $2)
  AND l.url <> ALL ($4::text[])
ORDER BY l.verified_at NULLS FIRST, l.url
LIMIT $3;
