-- Each edge's health and traffic from $1 to $2 (inclusive, UTC days).
-- Replication: whether its slot is streaming, how many bytes of WAL the
-- slot has not confirmed (from pg_replication_slots, readable by any role)
-- and the replay lag its walsender measures from the edge's feedback
-- (pg_stat_replication: NULL unless the role may read all statistics, or
-- when the edge is not connected). last_seen is the latest of its last
-- connection, its last fetch-count batch, and now while it streams. Edges
-- that sent counts but are no longer registered are listed too.
WITH traffic AS (
    SELECT edge,
           sum(requests) FILTER (WHERE kind = 'client') AS requests,
           sum(requests) FILTER (WHERE kind = 'hit') AS hits,
           sum(requests) FILTER (WHERE kind = 'miss') AS misses,
           sum(requests) FILTER (WHERE kind = 'redirect') AS redirects,
           sum(bytes) FILTER (WHERE kind = 'redirect') AS bytes
    FROM fetch_edge_daily
    WHERE day BETWEEN $1 AND $2
    GROUP BY edge
), names AS (
    SELECT name FROM edge UNION SELECT edge FROM traffic
), batches AS (
    -- One index scan of the primary key per edge, not a scan of the table.
    SELECT e.name AS edge, b.seq, b.flushed_at
    FROM names e
    CROSS JOIN LATERAL (
        SELECT seq, flushed_at FROM fetch_batch
        WHERE fetch_batch.edge = e.name ORDER BY seq DESC LIMIT 1
    ) b
)
SELECT n.name, coalesce(e.region, ''),
       e.name IS NOT NULL,
       coalesce(s.active, false),
       CASE WHEN s.confirmed_flush_lsn IS NOT NULL
            THEN greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn), 0)::bigint END,
       extract(epoch FROM r.replay_lag)::double precision,
       greatest(e.last_seen, b.flushed_at, CASE WHEN s.active THEN now() END),
       b.seq, b.flushed_at,
       coalesce(t.requests, 0)::bigint, coalesce(t.hits, 0)::bigint, coalesce(t.misses, 0)::bigint,
       coalesce(t.redirects, 0)::bigint, coalesce(t.bytes, 0)::bigint
FROM names n
LEFT JOIN edge e ON e.name = n.name
LEFT JOIN pg_replication_slots s ON s.slot_name = e.slot_name
LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
LEFT JOIN batches b ON b.edge = n.name
LEFT JOIN traffic t ON t.edge = n.name
ORDER BY n.name;
