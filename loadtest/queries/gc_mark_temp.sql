-- The mark table of a breadth-first mark: each path reached, once (the
-- primary key), with the level it was reached at (indexed: each step
-- reads the last level).
CREATE TEMP TABLE gc_mark (hash text PRIMARY KEY, level integer NOT NULL) ON COMMIT DROP;
CREATE INDEX ON gc_mark (level);
