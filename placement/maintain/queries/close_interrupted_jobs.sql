-- Closes the jobs of a runner that died. It runs under the maintenance
-- lock, so no live runner owns an open job; updated_at keeps the time of
-- the dead runner's last progress.
UPDATE store_job SET finished_at = now(),
    error = CASE WHEN error = '' THEN 'interrupted' ELSE error END
WHERE finished_at IS NULL;
