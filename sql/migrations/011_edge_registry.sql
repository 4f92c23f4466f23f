-- The edge registry: what an edge says about itself at start and on every
-- heartbeat after (package registry), beside what 001 and 008 keep. An
-- edge's flags are the truth: each heartbeat writes them all.
--
-- public_addresses are the addresses DNS answers with for the edge (IPv4,
-- IPv6 or both), empty when it gave none, and GeoDNS leaves it out.
-- ready is what the edge's /readyz answered at its last heartbeat, and
-- replica_lag how stale its replica was then (the time since it last held
-- everything the origin had sent); both NULL until an edge that beats
-- says so.
ALTER TABLE edge
    ADD COLUMN public_addresses inet[] NOT NULL DEFAULT '{}',
    ADD COLUMN ready            boolean,
    ADD COLUMN replica_lag      interval,
    -- Both coordinates or neither, each in its range: GeoDNS places the
    -- edge by them.
    ADD CONSTRAINT edge_coordinates CHECK (
        (latitude IS NULL) = (longitude IS NULL)
        AND latitude BETWEEN -90 AND 90
        AND longitude BETWEEN -180 AND 180);
