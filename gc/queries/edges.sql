-- Each registered edge with what the payload fence needs: its slot's
-- state and confirmed LSN (NULL when the slot is gone), whether it is
-- rebuilding its replica and the LSN of the replica it serves meanwhile,
-- and when it was last seen: the latest of its registration, its rebuild's
-- start and its last batch of fetch counts, and now when its slot streams.
-- pg_replication_slots is readable by any role; the last batch is one
-- index scan of fetch_batch's primary key per edge.
SELECT e.name, e.slot_name,
       s.slot_name IS NOT NULL, coalesce(s.active, false), coalesce(s.wal_status, ''),
       s.confirmed_flush_lsn::text,
       e.rebuilding_since, e.serving_lsn::text,
       greatest(e.last_seen, e.rebuilding_since, b.flushed_at, CASE WHEN s.active THEN now() END),
       now()
FROM edge e
LEFT JOIN pg_replication_slots s ON s.slot_name = e.slot_name
LEFT JOIN LATERAL (
    SELECT flushed_at FROM fetch_batch WHERE fetch_batch.edge = e.name ORDER BY seq DESC LIMIT 1
) b ON true
ORDER BY e.name;
