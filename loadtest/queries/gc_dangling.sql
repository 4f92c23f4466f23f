-- References to a path that is not there, or from one: none, by the
-- foreign keys, unless they were bypassed.
SELECT count(*) FROM reference r
WHERE NOT EXISTS (SELECT FROM narinfo n WHERE n.hash = r.reference)
   OR NOT EXISTS (SELECT FROM narinfo n WHERE n.hash = r.referrer);
