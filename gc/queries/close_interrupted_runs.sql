-- Runs left unfinished by a collector that died: the lock is free, so
-- nobody is at work on them.
UPDATE gc_run SET finished_at = updated_at, error = 'interrupted' WHERE finished_at IS NULL;
