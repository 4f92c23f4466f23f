-- The next $3 locations of store $1, any state, after URL $2 ('' for the
-- first batch). A drained location's row goes, so a stopped drain
-- resumes where it stopped.
SELECT l.url, l.key, l.state, f.file_hash, f.file_size
FROM payload_location l JOIN nar_file f ON f.url = l.url
WHERE l.store_id = $1 AND l.url > $2
ORDER BY l.url
LIMIT $3;
