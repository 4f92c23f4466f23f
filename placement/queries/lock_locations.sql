-- Locks every location of every payload the store $1 holds, here and in
-- other stores, until the transaction ends, so that no other location of
-- those payloads turns missing or corrupt between location_counts.sql
-- counting the payloads whose last good copy is here and the deletion.
SELECT 1
FROM payload_location
WHERE url IN (SELECT url FROM payload_location WHERE store_id = $1)
FOR UPDATE;
