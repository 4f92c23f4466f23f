-- Requests by client family (nix/<version>, guix, curl, other) from $1 to
-- $2 (inclusive, UTC days), most first. A handful of rows a day.
SELECT key, sum(requests)::bigint AS requests
FROM fetch_daily
WHERE day BETWEEN $1 AND $2 AND kind = 'client'
GROUP BY key
ORDER BY requests DESC, key;
