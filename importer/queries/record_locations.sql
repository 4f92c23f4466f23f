-- Records the NAR files of one path, hashed from the source: nar_file rows
-- for the URLs $2 (file hashes $3, sizes $4, compressions $5), and that
-- store $1 holds each under its URL as the key (the http store's base URL
-- followed by the narinfo's URL is where the file is), good and verified
-- now. One statement for all the files of a path, so that its narinfo,
-- uploaded next, finds them all. A URL names its hash, so an existing
-- nar_file row describes the same bytes and is kept; an existing location
-- in the store is marked good again, since its bytes were just hashed. The
-- foreign key from payload_location to nar_file is checked at the end of
-- the statement, when the rows of the WITH clause are there.
WITH file AS (
    INSERT INTO nar_file (url, file_hash, file_size, compression)
    SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[])
    ON CONFLICT (url) DO NOTHING
)
INSERT INTO payload_location (url, store_id, key, size, state, state_at, verified_at)
SELECT f.url, $1, f.url, f.size, 'good', now(), now()
FROM unnest($2::text[], $4::bigint[]) AS f (url, size)
ON CONFLICT (url, store_id) DO UPDATE SET key = EXCLUDED.key, size = EXCLUDED.size, state = 'good',
    state_at = now(), verified_at = now();
