-- The id of the store named $1, which another store is about to drain
-- into, and the store it drains into itself (so that two stores never drain
-- into each other). FOR KEY SHARE keeps the row from being deleted
-- (lock_store.sql waits for it) until the transaction that refers to it
-- commits.
SELECT id, drain_to FROM store WHERE name = $1 FOR KEY SHARE;
