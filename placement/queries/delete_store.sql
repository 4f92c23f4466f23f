-- Deletes the store $1; its jobs go with it (ON DELETE CASCADE).
DELETE FROM store WHERE id = $1;
