-- The $1 paths uploaded longest ago that no edge has counted a use of (a
-- narinfo hit or a redirect to a file it lists), oldest first: the first
-- rows of path_unfetched_created.
SELECT u.hash, n.name, u.created_at
FROM path_unfetched u
JOIN narinfo n ON n.hash = u.hash
ORDER BY u.created_at, u.hash
LIMIT $1;
