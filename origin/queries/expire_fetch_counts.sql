-- Removes up to $2 batches of fetch counts flushed more than $1 ago; their
-- counts go with them (ON DELETE CASCADE), and the roll-ups, written when
-- they came, stay. A batch that old is never sent again, so the key that
-- would refuse it twice is not needed any more. fetch_count_batch serves
-- the cascade.
DELETE FROM fetch_batch
WHERE (edge, seq) IN (
    SELECT edge, seq FROM fetch_batch WHERE flushed_at < now() - $1::interval LIMIT $2
);
