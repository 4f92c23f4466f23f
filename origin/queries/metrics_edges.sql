-- Each registered edge, read when the origin's metrics are scraped: when
-- it was last seen (last_seen: connecting, beating, or streaming at the
-- origin's last sweep), whether its slot is streaming and how
-- many bytes of WAL the slot has not confirmed (pg_replication_slots,
-- readable by any role; NULL when the slot is gone), and when its last
-- batch of fetch counts was flushed (NULL when it sent none kept): one
-- index scan of fetch_batch's primary key per edge, not a scan of the
-- table.
SELECT e.name, e.last_seen,
       coalesce(s.active, false),
       CASE WHEN s.confirmed_flush_lsn IS NOT NULL
            THEN greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn), 0)::bigint END,
       b.flushed_at
FROM edge e
LEFT JOIN pg_replication_slots s ON s.slot_name = e.slot_name
LEFT JOIN LATERAL (
    SELECT flushed_at FROM fetch_batch
    WHERE fetch_batch.edge = e.name ORDER BY seq DESC LIMIT 1
) b ON true
ORDER BY e.name;
