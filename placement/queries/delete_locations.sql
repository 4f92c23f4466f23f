-- Forgets every location of the store $1 (Delete with force, after
-- location_counts.sql found none of them to be a last good copy).
DELETE FROM payload_location WHERE store_id = $1;
