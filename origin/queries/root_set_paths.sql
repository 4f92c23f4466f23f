-- Makes the hashes $2 the whole path set of the root $1, after root_put in
-- the same transaction: the paths not among $2 go, the new ones come, and
-- the ones it keeps are left as they are. The two parts touch different
-- keys, so one statement does both.
--
-- The foreign key from root_path to narinfo takes a KEY SHARE lock on each
-- new path's row: a concurrent delete of the path (a collection) waits for
-- this transaction, or has already removed the row and this statement
-- fails with SQLSTATE 23503. Once the root is committed its paths cannot be
-- deleted (the key has no cascade).
WITH gone AS (
    DELETE FROM root_path
    WHERE root = $1 AND narinfo_hash <> ALL ($2::text[])
)
INSERT INTO root_path (root, narinfo_hash)
SELECT $1, hash FROM unnest($2::text[]) AS hash
ON CONFLICT (root, narinfo_hash) DO NOTHING;
