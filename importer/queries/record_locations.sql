-- Records the NAR files of one path, hashed from the source: nar_file rows
-- for the URLs $2 (file hashes $3, sizes $4, compressions $5, and for
-- names that carry no hash what they hold, NarHashes $7 and NarSizes $8,
-- NULL otherwise), and that store $1 holds each under its key $6 (the http
-- store's base URL followed by the URL is where the file is), good and
-- verified now. One statement for all the files of a path, so that its
-- narinfo, uploaded next, finds them all. An existing nar_file row of a
-- URL is kept: when it names the same bytes, as a URL that names its hash
-- always does, the location is recorded (an existing one marked good
-- again, since its bytes were just hashed); when it names other bytes,
-- which a Guix name cannot rule out, no location is, and the URL is not
-- returned. Returns the URLs whose locations were recorded. The foreign
-- key from payload_location to nar_file is checked at the end of the
-- statement, when the rows of the WITH clause are there.
WITH file AS (
    INSERT INTO nar_file (url, file_hash, file_size, compression, nar_hash, nar_size)
    SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $7::text[], $8::bigint[])
    ON CONFLICT (url) DO NOTHING
)
INSERT INTO payload_location (url, store_id, key, size, state, state_at, verified_at)
SELECT f.url, $1, f.key, f.size, 'good', now(), now()
FROM unnest($2::text[], $6::text[], $4::bigint[], $3::text[]) AS f (url, key, size, hash)
WHERE NOT EXISTS (SELECT FROM nar_file n WHERE n.url = f.url AND n.file_hash <> f.hash)
ON CONFLICT (url, store_id) DO UPDATE SET key = EXCLUDED.key, size = EXCLUDED.size, state = 'good',
    state_at = now(), verified_at = now()
RETURNING url;
