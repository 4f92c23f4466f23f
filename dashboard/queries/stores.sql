-- Each store with what it holds by the records (store_usage, kept by
-- trigger), its limits, its files with no good copy anywhere, and its
-- running maintenance job, if any.
SELECT s.name, s.kind, s.region, s.read_only, s.write_only, s.populate, s.drain,
       coalesce(u.bytes, 0), coalesce(u.files, 0), s.soft_max_size, s.max_size,
       j.kind, j.total, j.done, j.bytes, j.failed, j.started_at, j.updated_at
FROM store s
LEFT JOIN store_usage u ON u.store_id = s.id
LEFT JOIN LATERAL (
    SELECT kind, total, done, bytes, failed, started_at, updated_at FROM store_job
    WHERE store_id = s.id AND finished_at IS NULL
    ORDER BY started_at DESC LIMIT 1
) j ON true
ORDER BY s.name;
