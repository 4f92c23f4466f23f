-- Mark in one statement, as the collector does (gc/queries/mark.sql):
-- what the seeds reach through the reference graph (UNION keeps each path
-- once and ends the recursion), and the garbage, every other path, into
-- gc_garbage. Each level follows the primary key (referrer, reference)
-- from each path it found: the LATERAL subquery with OFFSET 0 keeps the
-- planner from hashing the whole reference table at every level instead.
CREATE TEMP TABLE gc_garbage ON COMMIT DROP AS
WITH RECURSIVE live (hash) AS (
    SELECT hash FROM gc_seed
    UNION
    SELECT r.reference FROM live l
    CROSS JOIN LATERAL (SELECT reference FROM reference WHERE referrer = l.hash OFFSET 0) r
)
SELECT n.hash FROM narinfo n WHERE NOT EXISTS (SELECT FROM live l WHERE l.hash = n.hash);
