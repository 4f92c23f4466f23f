-- Finished runs older than $1 go: the dashboard shows the recent ones.
DELETE FROM gc_run WHERE finished_at < $1::timestamptz;
