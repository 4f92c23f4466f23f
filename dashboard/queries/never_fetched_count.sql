-- How many paths no edge has counted a use of (a count of path_unfetched's
-- key), and about how many paths the cache holds: the planner's estimate,
-- kept by (auto)vacuum and analyze, since counting narinfo's every key
-- would cost more than the rest of the page together on a large cache.
-- Exact, by a count, while narinfo was never vacuumed nor analyzed.
SELECT (SELECT count(*) FROM path_unfetched),
       (SELECT CASE WHEN c.reltuples < 0 THEN (SELECT count(*) FROM narinfo)
                    ELSE c.reltuples::bigint END
        FROM pg_class c WHERE c.oid = 'narinfo'::regclass);
