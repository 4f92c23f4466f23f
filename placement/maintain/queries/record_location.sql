-- Records that store $2 holds a good copy of NAR file $1 under key $3
-- ($4 bytes, hashed right just now), and releases the copy's reservation
-- $5 (NULL for none). One statement, so that the store's usage (kept by
-- trigger) takes the bytes as the reservation gives them back. A location
-- recorded before (missing or corrupt) is good again: its bytes were just
-- written and hashed. The triggers of payload_location restore the file's
-- narinfos to service when this is their first good copy.
WITH released AS (
    DELETE FROM store_reservation WHERE id = $5
)
INSERT INTO payload_location (url, store_id, key, size, state, state_at, verified_at)
VALUES ($1, $2, $3, $4, 'good', now(), now())
ON CONFLICT (url, store_id) DO UPDATE SET key = EXCLUDED.key, size = EXCLUDED.size, state = 'good',
    state_at = now(), verified_at = now();
