-- The last $2 batches of each of $1 edges, one a minute up to now: what
-- fetch_batch holds under a retention of that many minutes.
INSERT INTO fetch_batch (edge, seq, flushed_at)
SELECT 'edge' || e, s, now() - ($2 - s) * interval '1 minute'
FROM generate_series(1, $1::integer) e, generate_series(1, $2::integer) s;
