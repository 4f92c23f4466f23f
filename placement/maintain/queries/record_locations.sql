-- Records that store $1 holds good copies of the NAR files $2 under keys
-- $3 ($4 bytes each, hashed right just now), and releases the copies'
-- reservations $5. One statement, so that the store's usage (kept by
-- trigger) takes the bytes as the reservations give them back, and so that
-- the statement triggers of payload_location (which restore the files'
-- narinfos to service when these are their first good copies) run once
-- for all the copies, not once for each. The URLs are distinct: ON
-- CONFLICT cannot update one row twice in a statement. Rows go in URL
-- order, so that two writers of the same locations lock them in one
-- order. A location recorded before (missing or corrupt) is good again:
-- its bytes were just written and hashed.
WITH released AS (
    DELETE FROM store_reservation WHERE id = ANY ($5::bigint[])
)
INSERT INTO payload_location (url, store_id, key, size, state, state_at, verified_at)
SELECT c.url, $1, c.key, c.size, 'good', now(), now()
FROM unnest($2::text[], $3::text[], $4::bigint[]) AS c (url, key, size)
ORDER BY c.url
ON CONFLICT (url, store_id) DO UPDATE SET key = EXCLUDED.key, size = EXCLUDED.size, state = 'good',
    state_at = now(), verified_at = now();
