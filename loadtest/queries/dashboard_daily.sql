-- fetch_daily of kind $1 for every day from $2 to $3: each day, $4 draws
-- of a key skewed towards the first of a pool of $5 (the index is $5 ×
-- random()^$6), each draw worth $7 requests. Hits and redirects map the
-- index i to path 1 + (i × 7919) mod $8, a permutation of the $8 paths
-- spread over their upload times, so the paths a pool of fewer than $8
-- leaves out are never fetched; a redirect's key is that path's NAR file
-- URL. Misses name hashes of their own ('m').
INSERT INTO fetch_daily (day, kind, key, requests)
SELECT day, $1::text,
       CASE $1::text WHEN 'miss' THEN translate(md5('m' || k.i), 'e', 'g')
               WHEN 'redirect' THEN 'nar/' || translate(md5('p' || (1 + (k.i::bigint * 7919) % $8)), 'e', 'g') || '.nar.xz'
               ELSE translate(md5('p' || (1 + (k.i::bigint * 7919) % $8)), 'e', 'g') END,
       count(*) * $7
FROM generate_series($2::date, $3::date, interval '1 day') day,
     LATERAL (SELECT floor($5 * power(random(), $6::double precision))::bigint AS i
              FROM generate_series(1, $4::integer) WHERE day IS NOT NULL) k
GROUP BY 1, 3;
