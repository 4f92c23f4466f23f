-- Requests by client family for every day from $1 to $2, about 1,000 to
-- 2,000 a family a day.
INSERT INTO fetch_daily (day, kind, key, requests)
SELECT day, 'client', family, 1000 + (random() * 1000)::integer
FROM generate_series($1::date, $2::date, interval '1 day') day,
     unnest(ARRAY['nix/2.8.0', 'nix/2.18.1', 'nix/2.24.9', 'nix/2.28.3', 'guix', 'curl', 'other']) family;
