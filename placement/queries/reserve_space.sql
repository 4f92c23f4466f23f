-- Reserves $2 bytes of store $1 for holder $3 when they fit under the
-- store's max_size ($4) beside what it holds ($5) and what live
-- reservations hold; returns the reservation's id, or no row when they do
-- not fit. Runs after lock_store_usage.sql in the same transaction, as a
-- statement of its own: under READ COMMITTED its snapshot is taken after
-- the lock is granted, so it sees every reservation committed before. A
-- reservation not renewed within $6 belongs to a process that died: it
-- does not count, and is removed here. $7 is the URL the reservation
-- claims, or NULL; a live claim of it makes this fail with SQLSTATE 23505.
WITH stale AS (
    DELETE FROM store_reservation WHERE store_id = $1 AND renewed_at < now() - $6::interval
), live AS (
    SELECT coalesce(sum(bytes), 0) AS bytes FROM store_reservation
    WHERE store_id = $1 AND renewed_at >= now() - $6::interval
)
INSERT INTO store_reservation (store_id, bytes, holder, url)
SELECT $1, $2::bigint, $3, $7::text FROM live WHERE $5::bigint + live.bytes + $2::bigint <= $4::bigint
RETURNING id;
