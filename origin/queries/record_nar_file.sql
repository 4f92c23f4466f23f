-- Records the uploaded NAR file $1 (hash $2, size $3, compression $4, and
-- for a name that does not carry its hash what it decompresses to: NarHash
-- $8 and NarSize $9, NULL otherwise) and that store $5 holds it under key
-- $6, and releases the upload's reservation $7 (NULL for none). One
-- statement, so that one round trip commits all of it, and the store's
-- usage (kept by trigger) takes the file's bytes as the reservation gives
-- them back. An existing row for the URL describes the same bytes and is
-- kept (primary key conflicts): a URL that names its hash says so, and one
-- that does not was written under the claim of reservation $7, held since
-- before the row was read, with the bytes that row names. A location
-- recorded before is marked good again, since the bytes were just written
-- and hashed. The foreign key from payload_location to nar_file is checked
-- at the end of the statement, when the nar_file row of the WITH clause is
-- there.
WITH file AS (
    INSERT INTO nar_file (url, file_hash, file_size, compression, nar_hash, nar_size)
    VALUES ($1, $2, $3, $4, $8, $9)
    ON CONFLICT (url) DO NOTHING
), released AS (
    DELETE FROM store_reservation WHERE id = $7
)
INSERT INTO payload_location (url, store_id, key, size, state, state_at, verified_at)
VALUES ($1, $5, $6, $3, 'good', now(), now())
ON CONFLICT (url, store_id) DO UPDATE SET key = EXCLUDED.key, size = EXCLUDED.size, state = 'good',
    state_at = now(), verified_at = now()
WHERE payload_location.state <> 'good' OR payload_location.key <> EXCLUDED.key;
