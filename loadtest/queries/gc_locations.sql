-- A good copy of every NAR file in the local store, under its URL as key,
-- as the origin records an upload, and the store's usage as the location
-- trigger keeps it. That row trigger is off meanwhile (it would update
-- the same row once a copy, and it fires even under
-- session_replication_role = replica); the statement triggers that keep
-- withdrawn are off under it, and withdrawn stays false, which it is for
-- a file with a good copy. One transaction.
ALTER TABLE payload_location DISABLE TRIGGER store_usage_location;
WITH located AS (
    INSERT INTO payload_location (url, store_id, key, size, state, verified_at)
    SELECT f.url, s.id, f.url, f.file_size, 'good', f.created_at
    FROM nar_file f CROSS JOIN store s
    WHERE s.name = 'local'
    ON CONFLICT (url, store_id) DO NOTHING
    RETURNING size
)
UPDATE store_usage u SET bytes = u.bytes + l.bytes, files = u.files + l.files
FROM (SELECT coalesce(sum(size), 0) AS bytes, count(*) AS files FROM located) l
WHERE u.store_id = (SELECT id FROM store WHERE name = 'local');
ALTER TABLE payload_location ENABLE ALWAYS TRIGGER store_usage_location;
