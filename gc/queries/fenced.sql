-- What tombstones hold: the objects and bytes waiting for the fence, in
-- all and those past it ($1, NULL for no fence).
SELECT count(*), coalesce(sum(size), 0)::bigint,
       count(*) FILTER (WHERE lsn IS NOT NULL AND ($1::pg_lsn IS NULL OR lsn <= $1::pg_lsn)),
       coalesce(sum(size) FILTER (WHERE lsn IS NOT NULL AND ($1::pg_lsn IS NULL OR lsn <= $1::pg_lsn)), 0)::bigint
FROM payload_tombstone;
