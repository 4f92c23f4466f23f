-- The id of the store named $1, which another store is about to drain
-- into. FOR KEY SHARE keeps the row from being deleted (lock_store.sql
-- waits for it) until the transaction that refers to it commits.
SELECT id FROM store WHERE name = $1 FOR KEY SHARE;
