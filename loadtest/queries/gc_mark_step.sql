-- One level of a breadth-first mark: the paths that those reached at
-- level $1 reference, but for those reached already (the primary key of
-- gc_mark; DO NOTHING also keeps a path two of them reference once).
INSERT INTO gc_mark (hash, level)
SELECT r.reference, $1::integer + 1
FROM gc_mark m JOIN reference r ON r.referrer = m.hash
WHERE m.level = $1::integer
ON CONFLICT (hash) DO NOTHING;
