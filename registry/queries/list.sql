-- Every registered edge for the operator (registry.List): what it
-- registered; what its last heartbeat said (ready, replica_lag in
-- seconds) and how long ago the database last saw it, by its own clock;
-- whether it is rebuilding its replica; and, from pg_replication_slots
-- (readable by any role; NULLs when the slot is gone), whether its slot
-- streams, the bytes of WAL the slot has not confirmed (the edge's lag)
-- and the bytes it keeps from removal (from restart_lsn: what the edge
-- costs the origin's disk). One row per edge; the slot is found by its
-- unique name.
SELECT e.name, e.region, e.latitude, e.longitude,
       e.public_addresses,
       e.public_url,
       e.last_seen,
       extract(epoch FROM greatest(now() - e.last_seen, interval '0'))::double precision,
       e.ready,
       extract(epoch FROM e.replica_lag)::double precision,
       e.rebuilding_since,
       e.slot_name,
       s.slot_name IS NOT NULL,
       coalesce(s.active, false),
       CASE WHEN s.confirmed_flush_lsn IS NOT NULL
            THEN greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn), 0)::bigint END,
       CASE WHEN s.restart_lsn IS NOT NULL
            THEN greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn), 0)::bigint END
FROM edge e
LEFT JOIN pg_replication_slots s ON s.slot_name = e.slot_name
ORDER BY e.name;
