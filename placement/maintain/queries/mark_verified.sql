-- Records that the location of NAR file $1 in store $2 hashed right just
-- now, unless it was marked bad meanwhile.
UPDATE payload_location SET verified_at = now()
WHERE url = $1 AND store_id = $2 AND state = 'good';
