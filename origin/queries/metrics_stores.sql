-- Each store, read when the origin's metrics are scraped: what it holds by
-- the records (store_usage, one row a store, kept by trigger), its limits
-- (NULL when unset), the room promised to uploads in flight by live
-- reservations (renewed within $1, as reserve_space.sql counts them), and
-- its running maintenance job, if any (partial index store_job_running).
-- A few rows a store: cheap at every scrape.
SELECT s.name, coalesce(u.bytes, 0), coalesce(u.files, 0), s.soft_max_size, s.max_size,
       (SELECT coalesce(sum(r.bytes), 0)::bigint FROM store_reservation r
        WHERE r.store_id = s.id AND r.renewed_at >= now() - $1::interval),
       j.kind, j.total, j.done, j.bytes, j.failed, j.started_at, j.updated_at
FROM store s
LEFT JOIN store_usage u ON u.store_id = s.id
LEFT JOIN LATERAL (
    SELECT kind, total, done, bytes, failed, started_at, updated_at FROM store_job
    WHERE store_id = s.id AND finished_at IS NULL
    ORDER BY started_at DESC LIMIT 1
) j ON true
ORDER BY s.name;
