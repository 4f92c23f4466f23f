-- The $3 keys of kind $2 ('hit': paths by narinfo hits; 'miss': hashes
-- asked for and not held) with the most requests over the window of the
-- last $1 days (1, 7, 30 or 365), most first: the first rows of the index
-- fetch_window_top.
SELECT key, requests
FROM fetch_window
WHERE days = $1 AND kind = $2 AND requests > 0
ORDER BY requests DESC, key
LIMIT $3;
