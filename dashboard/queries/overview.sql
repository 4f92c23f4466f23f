-- Requests of each kind and the bytes redirected, day by day from $1 to
-- $2 (inclusive, UTC days), on every edge when $3 is empty or on the edge
-- named $3. Requests counts every counted request once (the client kind);
-- days without requests are absent. Reads the primary key of
-- fetch_edge_daily over the window: at most edges × 4 rows a day.
SELECT day,
       coalesce(sum(requests) FILTER (WHERE kind = 'client'), 0)::bigint,
       coalesce(sum(requests) FILTER (WHERE kind = 'hit'), 0)::bigint,
       coalesce(sum(requests) FILTER (WHERE kind = 'miss'), 0)::bigint,
       coalesce(sum(requests) FILTER (WHERE kind = 'redirect'), 0)::bigint,
       coalesce(sum(bytes) FILTER (WHERE kind = 'redirect'), 0)::bigint
FROM fetch_edge_daily
WHERE day BETWEEN $1 AND $2 AND ($3 = '' OR edge = $3)
GROUP BY day
ORDER BY day;
