-- The last batch edge $1 flushed (primary key range), or 0: the next one
-- takes the sequence number after it.
SELECT coalesce(max(seq), 0) FROM fetch_batch WHERE edge = $1;
