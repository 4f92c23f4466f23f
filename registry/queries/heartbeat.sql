-- An edge's heartbeat: it writes everything it says about itself ($2 to
-- $6: region, coordinates, addresses (none: NULL), URL), what its /readyz
-- answers ($7) and how stale its replica is ($8, in microseconds; NULL
-- when unknown), and is seen now by the database's clock. Only the row of
-- edge $1, which its replicator made when it made the edge's slot: no
-- row, nothing written (the caller tries again soon). The edge's role
-- may UPDATE edge (sql/queries/edge_role_grants.sql); the CHECK of
-- migration 011 refuses coordinates out of range.
UPDATE edge SET
    region           = $2,
    latitude         = $3,
    longitude        = $4,
    public_addresses = coalesce($5::inet[], '{}'),
    public_url       = $6,
    ready            = $7,
    replica_lag      = $8::bigint * interval '1 microsecond',
    last_seen        = now()
WHERE name = $1;
