-- The mark: every path no live path reaches, into gc_garbage.
--
-- live recurses over the reference graph from the seeds: paths of the
-- roots not expired at $1 (the run's start), paths uploaded after $2,
-- paths an authenticated client was told are present after $2, and, when
-- $3 is not NULL, paths fetched after $3. Each step follows reference's
-- primary key (referrer, reference) from the paths reached in the step
-- before: an index scan per path, which reads only the referrer's own
-- references. The LATERAL subquery with OFFSET 0 keeps it so: the planner
-- cannot know how many paths a step reaches, and as a plain join it hashes
-- the whole reference table at every step instead, a full scan for each
-- level of the graph (hundreds of scans of millions of rows; the walk of a
-- graph of 200,000 paths took 7.2 s that way, 1.3 s this way).
--
-- UNION, not UNION ALL: it drops a path reached before, so each path is
-- walked once however many paths share it (a glibc under half the cache),
-- and the recursion ends, since the set only grows and is bounded by the
-- narinfo table. UNION ALL would walk a shared dependency once per path
-- to it, which grows with the number of paths through the graph, not with
-- its size.
--
-- Garbage is narinfo less live: an anti-join of the table against the
-- materialized live set (merge or hash, as work_mem allows).
INSERT INTO gc_garbage (hash, created_at)
WITH RECURSIVE live (hash) AS (
    SELECT p.narinfo_hash FROM root_path p JOIN root r ON r.name = p.root
    WHERE r.expires_at IS NULL OR r.expires_at > $1::timestamptz
    UNION
    SELECT hash FROM narinfo WHERE created_at > $2::timestamptz
    UNION
    SELECT hash FROM narinfo_told WHERE told_at > $2::timestamptz
    UNION
    SELECT hash FROM path_last_fetched WHERE $3::timestamptz IS NOT NULL AND last_fetched > $3::timestamptz
    UNION
    SELECT r.reference FROM live l
    CROSS JOIN LATERAL (SELECT reference FROM reference WHERE referrer = l.hash OFFSET 0) r
)
SELECT n.hash, n.created_at FROM narinfo n
WHERE NOT EXISTS (SELECT FROM live WHERE live.hash = n.hash);
