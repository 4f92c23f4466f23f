-- NAR files whose names do not carry their hash: Guix names a file by the
-- store path it holds and its compression (nar/gzip/<base name>). Their
-- file_hash is the SHA-256 of the bytes as the origin received them, and
-- nar_hash and nar_size what the file decompresses to, found as it was
-- received, so that the narinfo listing it is checked against its bytes
-- as a Nix name's hash is. Both are NULL for files named by their hash.
ALTER TABLE nar_file ADD COLUMN nar_hash text, ADD COLUMN nar_size bigint CHECK (nar_size > 0);

-- An upload of such a file claims its URL with its reservation: names that
-- say nothing of the bytes could otherwise have two uploads of different
-- bytes write one object and record the other's hash. A claim lapses with
-- its reservation when its holder dies.
ALTER TABLE store_reservation ADD COLUMN url text;
CREATE UNIQUE INDEX store_reservation_url ON store_reservation (url) WHERE url IS NOT NULL;
