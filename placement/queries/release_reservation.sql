-- Releases reservation $1 of an upload that failed.
DELETE FROM store_reservation WHERE id = $1;
