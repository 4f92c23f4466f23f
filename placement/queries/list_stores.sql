-- The stores, by name; only the one named $1 unless $1 is NULL. A drain
-- target is shown by its name.
SELECT s.id, s.name, s.kind, s.base_url, s.region, s.latitude, s.longitude,
       s.upload_priority, s.download_priority, s.populate, s.drain, coalesce(t.name, ''),
       s.read_only, s.write_only, s.soft_max_size, s.max_size, s.settings, s.created_at
FROM store s
LEFT JOIN store t ON t.id = s.drain_to
WHERE $1::text IS NULL OR s.name = $1
ORDER BY s.name;
