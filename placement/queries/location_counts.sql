-- How many locations the store $1 holds, and how many of them are the last
-- good copy of their payload: good here, and good in no other store.
SELECT count(*),
       count(*) FILTER (WHERE l.state = 'good' AND NOT EXISTS (
           SELECT 1 FROM payload_location o
           WHERE o.url = l.url AND o.store_id <> l.store_id AND o.state = 'good'))
FROM payload_location l
WHERE l.store_id = $1;
