-- Stores a narinfo unless one with its hash exists. ON CONFLICT relies on the
-- primary key: a concurrent insert of the same hash makes this one wait for
-- that transaction and then return no row, so the caller compares with the
-- committed one instead of failing.
INSERT INTO narinfo (hash, name, nar_hash, nar_size, deriver, system, ca, sigs, body)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (hash) DO NOTHING
RETURNING hash;
