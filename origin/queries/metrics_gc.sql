-- Garbage collection, read when the origin's metrics are scraped: the
-- latest finished collection that was not a dry run (when it ended, how
-- long it took, what it deleted, whether it failed; NULLs before the
-- first), how many run now, and the payloads waiting behind the edges'
-- fence. gc_run is read through its index on started_at; the tombstones
-- are summed whole, a table that holds only what the last collections
-- deleted and the fence still holds.
SELECT r.finished_at, extract(epoch FROM r.finished_at - r.started_at)::float8,
       r.paths_swept, r.files_retired, r.bytes_freed, r.error <> '',
       (SELECT count(*) FROM gc_run WHERE finished_at IS NULL),
       (SELECT count(*) FROM payload_tombstone),
       (SELECT coalesce(sum(size), 0) FROM payload_tombstone)::bigint
FROM (SELECT) one
LEFT JOIN LATERAL (
    SELECT * FROM gc_run WHERE finished_at IS NOT NULL AND NOT dry_run ORDER BY started_at DESC LIMIT 1
) r ON true;
