-- The paths never fetched, as the upload trigger of path_unfetched lists
-- them (it does not fire under session_replication_role = replica).
INSERT INTO path_unfetched (hash, created_at)
SELECT n.hash, n.created_at FROM narinfo n
WHERE NOT EXISTS (SELECT FROM path_last_fetched l WHERE l.hash = n.hash)
ON CONFLICT (hash) DO NOTHING;
