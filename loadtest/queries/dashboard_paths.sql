-- A synthetic year's paths for the dashboard benchmark: $1 narinfos, path
-- i with the hash dashboard_hash('p', i) (md5's hex digits, with the one
-- nixbase32 lacks, e, turned into g), uploaded evenly over the $2 days
-- before $3.
INSERT INTO narinfo (hash, name, nar_hash, nar_size, body, created_at)
SELECT translate(md5('p' || i), 'e', 'g'), 'dash-' || i || '-1.0', 'sha256:0', 1000,
       'StorePath: /nix/store/' || translate(md5('p' || i), 'e', 'g') || '-dash-' || i || E'-1.0\n',
       $3::timestamptz - make_interval(days => $2) + (i::double precision / $1) * make_interval(days => $2)
FROM generate_series(1, $1::integer) i;
