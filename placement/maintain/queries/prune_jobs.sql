-- Removes the jobs that finished before $1 ago: every pass adds a few,
-- and only recent ones say anything about a store.
DELETE FROM store_job WHERE finished_at < now() - $1::interval;
