-- Locks the usage row of store $1 for the rest of the transaction and
-- returns the bytes the store holds. The origin's uploads take the same
-- lock before they reserve room, so that an upload and a copy cannot both
-- take a store's last room.
SELECT bytes FROM store_usage WHERE store_id = $1 FOR UPDATE;
