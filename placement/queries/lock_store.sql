-- The store named $1, locked FOR UPDATE until the transaction ends: a
-- change validated against this row is written before anyone else reads it
-- to change it. The lock also conflicts with the FOR KEY SHARE lock that a
-- new payload_location row (and store_id.sql) takes on its store, so no
-- location appears in a store being deleted.
SELECT s.id, s.name, s.kind, s.base_url, s.region, s.latitude, s.longitude,
       s.upload_priority, s.download_priority, s.populate, s.drain, coalesce(t.name, ''),
       s.read_only, s.write_only, s.soft_max_size, s.max_size, s.settings, s.created_at
FROM store s
LEFT JOIN store t ON t.id = s.drain_to
WHERE s.name = $1
FOR UPDATE OF s;
