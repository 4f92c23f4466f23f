-- $1 registered edges, edge1 to edge<N>, seen a minute ago, each with a
-- slot name of its own (no slot exists: they are not streaming).
INSERT INTO edge (name, slot_name, region, last_seen)
SELECT 'edge' || e, 'narthex_edge' || e || '_00000000', 'region' || e, now() - interval '1 minute'
FROM generate_series(1, $1::integer) e;
