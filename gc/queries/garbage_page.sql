-- The next $3 marked paths after ($1, $2) in sweep order: newest upload
-- first. A path can only be uploaded once every path it refers to is there
-- (reference's foreign key), so every referrer is newer than what it
-- refers to and this order sweeps referrers first. Keyset paging over the
-- temporary table's rows, read once.
SELECT hash, created_at FROM gc_garbage
WHERE (created_at, hash) < ($1::timestamptz, $2::text)
ORDER BY created_at DESC, hash DESC
LIMIT $3;
