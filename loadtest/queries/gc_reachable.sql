-- The paths the unexpired roots reach through the reference graph: the
-- live half of the collection benchmark's graph.
WITH RECURSIVE reached (hash) AS (
    SELECT p.narinfo_hash
    FROM root_path p JOIN root r ON r.name = p.root
    WHERE r.expires_at IS NULL OR r.expires_at > now()
    UNION
    SELECT f.reference FROM reference f JOIN reached d ON f.referrer = d.hash
)
SELECT count(*) FROM reached;
