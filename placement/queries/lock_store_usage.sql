-- Locks the usage row of store $1 for the rest of the transaction and
-- returns the bytes the store holds. Reservations in one store take this
-- lock first, so that two uploads cannot both take its last room; the
-- trigger that counts a recorded file's bytes takes it too.
SELECT bytes FROM store_usage WHERE store_id = $1 FOR UPDATE;
