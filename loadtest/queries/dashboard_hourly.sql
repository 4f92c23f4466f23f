-- fetch_hourly for every hour from $1 to $2 (timestamps), $3 edges and $4
-- countries (AA, AB, ...), for each kind: up to 50 requests and, for
-- redirects, up to 50 MB.
INSERT INTO fetch_hourly (hour, edge, country, kind, requests, bytes)
SELECT hour, 'edge' || e, chr(65 + c / 26) || chr(65 + c % 26), kind, 1 + (random() * 50)::integer,
       CASE WHEN kind = 'redirect' THEN (random() * 5e7)::bigint ELSE 0 END
FROM generate_series($1::timestamptz, $2::timestamptz, interval '1 hour') hour,
     generate_series(1, $3::integer) e, generate_series(0, $4::integer - 1) c,
     unnest(ARRAY['hit', 'miss', 'redirect', 'client']) kind;
