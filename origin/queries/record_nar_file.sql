-- Records the uploaded NAR file $1 (hash $2, size $3, compression $4) and
-- that store $5 holds it under key $6. One statement, so that one round trip
-- commits both. Its URL names its hash, so an existing row for the URL
-- describes the same bytes and is kept (primary key conflicts). The foreign
-- key from payload_location to nar_file is checked at the end of the
-- statement, when the nar_file row of the WITH clause is there.
WITH file AS (
    INSERT INTO nar_file (url, file_hash, file_size, compression)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT (url) DO NOTHING
)
INSERT INTO payload_location (url, store_id, key)
VALUES ($1, $5, $6)
ON CONFLICT (url, store_id) DO NOTHING;
