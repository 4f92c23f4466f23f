-- The store path names, upload times and last use of the narinfos whose
-- hashes are in $1; a hash the cache does not hold has no row.
SELECT n.hash, n.name, n.created_at, l.last_fetched
FROM narinfo n
LEFT JOIN path_last_fetched l ON l.hash = n.hash
WHERE n.hash = ANY ($1::text[]);
