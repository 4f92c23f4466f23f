-- The newest unfinished maintenance job of the store $1, if any (served
-- by the partial index store_job_running).
SELECT id, kind, total, done, bytes, failed, error, started_at, updated_at
FROM store_job
WHERE store_id = $1 AND finished_at IS NULL
ORDER BY started_at DESC, id DESC
LIMIT 1;
