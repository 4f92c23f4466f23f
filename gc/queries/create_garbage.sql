-- The collector's mark: the paths found unreachable, with when each was
-- uploaded, for this session only. Keys only: a sweep batch reads hashes
-- from here and everything else from the tables themselves.
CREATE TEMPORARY TABLE IF NOT EXISTS gc_garbage (
    hash       text PRIMARY KEY,
    created_at timestamptz NOT NULL
);
