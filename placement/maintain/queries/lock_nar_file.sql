-- Locks the row of NAR file $1 for the rest of the transaction, so that
-- two removals of its copies are never decided at once. FOR NO KEY UPDATE
-- leaves the foreign-key checks of uploads (FOR KEY SHARE) unblocked.
SELECT url FROM nar_file WHERE url = $1 FOR NO KEY UPDATE;
