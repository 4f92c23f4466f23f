-- The good copies of NAR file $1 outside store $2, best source first:
-- copies clients download (not write_only) before backups, which are
-- often slow or costly to read; then by download priority, upload
-- priority (highest first, unset last) and id.
SELECT l.store_id, l.key
FROM payload_location l JOIN store s ON s.id = l.store_id
WHERE l.url = $1 AND l.store_id <> $2 AND l.state = 'good'
ORDER BY s.write_only, s.download_priority DESC NULLS LAST, s.upload_priority DESC NULLS LAST, s.id;
