-- Inserts one path without references, with its NAR file and that file's
-- location in the load tool's store, as one statement and so one
-- transaction: the foreign keys of narinfo_file and payload_location are
-- checked at the end of the statement, when the other rows are in. With a
-- good location the path is in service (a narinfo whose file has no good
-- copy is withdrawn), as an uploaded one is.
WITH file AS (
    INSERT INTO nar_file (url, file_hash, file_size, compression)
    VALUES ($1, $2, $3, $4)
), info AS (
    INSERT INTO narinfo (hash, name, nar_hash, nar_size, deriver, sigs, body)
    VALUES ($5, $6, $7, $8, $9, $10, $11)
), location AS (
    INSERT INTO payload_location (url, store_id, key, size)
    SELECT $1, id, $1, $3 FROM store WHERE name = 'loadtest'
)
INSERT INTO narinfo_file (narinfo_hash, url) VALUES ($5, $1);
