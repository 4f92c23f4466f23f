-- What the store $1 holds: good locations and their bytes (a location's
-- own size, else its file's), missing and corrupt ones, how many good ones
-- were ever verified and the oldest such verification, the payloads located
-- here that have no good location anywhere, and, when $2 (the store
-- populates), the NAR files it has no good location for.
SELECT count(*) FILTER (WHERE l.state = 'good'),
       coalesce(sum(coalesce(l.size, f.file_size)) FILTER (WHERE l.state = 'good'), 0)::bigint,
       count(*) FILTER (WHERE l.state = 'missing'),
       count(*) FILTER (WHERE l.state = 'corrupt'),
       count(*) FILTER (WHERE l.state = 'good' AND l.verified_at IS NOT NULL),
       min(l.verified_at) FILTER (WHERE l.state = 'good'),
       count(*) FILTER (WHERE l.state <> 'good' AND NOT EXISTS (
           SELECT 1 FROM payload_location o WHERE o.url = l.url AND o.state = 'good')),
       CASE WHEN $2::boolean THEN (
           SELECT count(*) FROM nar_file n
           WHERE NOT EXISTS (
               SELECT 1 FROM payload_location g
               WHERE g.url = n.url AND g.store_id = $1 AND g.state = 'good'))
       END
FROM payload_location l
JOIN nar_file f ON f.url = l.url
WHERE l.store_id = $1;
