-- How many of store $1's good locations, taken in evict_batch.sql's
-- order, hold the first $2 bytes: the files an eviction expects to move.
SELECT count(*) FROM (
    SELECT sum(l.size) OVER (ORDER BY f.created_at, f.url) - l.size AS before
    FROM payload_location l JOIN nar_file f ON f.url = l.url
    WHERE l.store_id = $1 AND l.state = 'good'
) o
WHERE o.before < $2;
