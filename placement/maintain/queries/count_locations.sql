-- How many locations, of any state, store $1 has.
SELECT count(*) FROM payload_location WHERE store_id = $1;
