-- Releases reservation $1 of a copy that was not recorded.
DELETE FROM store_reservation WHERE id = $1;
