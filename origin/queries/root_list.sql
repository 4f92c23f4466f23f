-- The root named $1, or every root when $1 is NULL, by name, with the base
-- names (<hash>-<name>) of its paths in order. Whether a root has expired
-- is decided by the database's clock, the one a collection goes by.
SELECT r.name, r.expires_at, coalesce(r.expires_at <= now(), false) AS expired,
       r.created_at, r.updated_at,
       ARRAY(SELECT p.narinfo_hash || '-' || n.name
             FROM root_path p JOIN narinfo n ON n.hash = p.narinfo_hash
             WHERE p.root = r.name
             ORDER BY p.narinfo_hash) AS paths
FROM root r
WHERE $1::text IS NULL OR r.name = $1
ORDER BY r.name;
