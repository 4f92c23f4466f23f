-- How many NAR files store $1 holds no good copy of.
SELECT count(*) FROM nar_file f
WHERE NOT EXISTS (SELECT FROM payload_location l WHERE l.url = f.url AND l.store_id = $1 AND l.state = 'good');
