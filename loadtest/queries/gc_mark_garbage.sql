-- The garbage of a breadth-first mark: every path it did not reach.
CREATE TEMP TABLE gc_garbage ON COMMIT DROP AS
SELECT n.hash FROM narinfo n WHERE NOT EXISTS (SELECT FROM gc_mark m WHERE m.hash = n.hash);
