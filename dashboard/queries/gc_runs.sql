-- The latest collections, newest first (gc_run's index on started_at),
-- dry runs left out, and what the payload tombstones hold now: the bytes
-- collected that wait for every live edge to apply their deletion.
SELECT id, phase, started_at, finished_at, roots_expired, live, garbage, paths_swept, paths_kept,
       files_retired, objects_freed, bytes_freed, objects_fenced, bytes_fenced, error
FROM gc_run
WHERE NOT dry_run
ORDER BY started_at DESC
LIMIT $1;
