-- Mark in one statement: what the seeds reach through the reference
-- graph (UNION keeps each path once and ends the recursion), and the
-- garbage, every other path, into gc_garbage. Each level joins the paths
-- it found with reference through its primary key (referrer, reference).
CREATE TEMP TABLE gc_garbage ON COMMIT DROP AS
WITH RECURSIVE live (hash) AS (
    SELECT hash FROM gc_seed
    UNION
    SELECT r.reference FROM reference r JOIN live l ON r.referrer = l.hash
)
SELECT n.hash FROM narinfo n WHERE NOT EXISTS (SELECT FROM live l WHERE l.hash = n.hash);
