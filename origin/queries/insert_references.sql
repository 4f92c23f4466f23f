-- Records the references $2 of narinfo $1 (itself excluded by the caller).
-- The foreign key to narinfo takes a KEY SHARE lock on each referenced row,
-- so a concurrent delete of a referenced path waits for this transaction or
-- makes this insert fail with SQLSTATE 23503: the graph stays closed.
INSERT INTO reference (referrer, reference)
SELECT $1, ref FROM unnest($2::text[]) AS ref
ON CONFLICT DO NOTHING;
