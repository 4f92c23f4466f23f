-- Requests of each kind and the bytes redirected by client country from
-- $1 to $2 (inclusive, UTC days), busiest first; '' is a country the
-- edges' GeoIP databases did not know. At most countries × 4 rows a day.
SELECT country,
       coalesce(sum(requests) FILTER (WHERE kind = 'client'), 0)::bigint AS requests,
       coalesce(sum(requests) FILTER (WHERE kind = 'hit'), 0)::bigint,
       coalesce(sum(requests) FILTER (WHERE kind = 'miss'), 0)::bigint,
       coalesce(sum(requests) FILTER (WHERE kind = 'redirect'), 0)::bigint,
       coalesce(sum(bytes) FILTER (WHERE kind = 'redirect'), 0)::bigint
FROM fetch_country_daily
WHERE day BETWEEN $1 AND $2
GROUP BY country
ORDER BY requests DESC, country;
