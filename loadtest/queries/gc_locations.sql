-- A good copy of every NAR file in the local store, under its URL as key,
-- as the origin records an upload. The statement triggers that keep
-- store_usage (sql/migrations/009) move the store's usage once for the
-- whole statement, even under session_replication_role = replica; the
-- statement triggers that keep withdrawn are off under it, and withdrawn
-- stays false, which it is for a file with a good copy.
INSERT INTO payload_location (url, store_id, key, size, state, verified_at)
SELECT f.url, s.id, f.url, f.file_size, 'good', f.created_at
FROM nar_file f CROSS JOIN store s
WHERE s.name = 'local'
ON CONFLICT (url, store_id) DO NOTHING;
