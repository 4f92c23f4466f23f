-- How many good locations store $1 has.
SELECT count(*) FROM payload_location WHERE store_id = $1 AND state = 'good';
