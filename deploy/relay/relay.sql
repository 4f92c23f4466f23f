-- A regional relay: a PostgreSQL database that subscribes natively to the
-- origin's publication "narthex" and publishes the same tables under the
-- same name, so that edges replicate from it exactly as from the origin
-- (narthex edge --database-url pointing here). Apply it once, as a
-- superuser, to an empty database of a cluster with wal_level = logical
-- (deploy/postgresql/narthex.conf):
--
--   psql -v ON_ERROR_STOP=1 -v origin='host=origin.example.org dbname=narthex user=relay_eu password=…' \
--        -v slot=narthex_relay_eu_00000000 -d narthex -f deploy/relay/relay.sql
--
-- origin is the connection string the relay's subscription uses (a role
-- with REPLICATION and SELECT on the published columns: narthex edge-role
-- create makes one); slot names the subscription's slot on the origin. A
-- slot named like an edge's (narthex_<name>_<8 characters of [0-9a-z]>),
-- with a row for it in the origin's edge table, makes the origin's garbage
-- collection wait for the relay (see deploy/README.md).
--
-- The tables hold only the columns the origin publishes (the origin's
-- other columns are NOT NULL and never arrive); their primary keys are the
-- origin's, which are the tables' replica identity on both sides, so that
-- updates and deletes reach the relay and, through it, the edges. They
-- match the publication of sql/migrations up to 011; a migration that
-- changes the publication changes this file too (deploy's tests compare
-- the two).

BEGIN;

-- The stores NAR files live in, as the origin describes them.
CREATE TABLE store (
    id                integer PRIMARY KEY,
    name              text NOT NULL,
    kind              text NOT NULL,
    base_url          text NOT NULL,
    region            text NOT NULL,
    latitude          double precision,
    longitude         double precision,
    upload_priority   integer,
    download_priority integer,
    read_only         boolean NOT NULL,
    write_only        boolean NOT NULL,
    settings          jsonb NOT NULL
);

-- Where each NAR file's bytes are, and whether that copy is good.
CREATE TABLE payload_location (
    url      text NOT NULL,
    store_id integer NOT NULL,
    key      text NOT NULL,
    state    text NOT NULL,
    PRIMARY KEY (url, store_id)
);

-- The narinfos, with the exact body the edges serve.
CREATE TABLE narinfo (
    hash      text PRIMARY KEY,
    body      text NOT NULL,
    withdrawn boolean NOT NULL
);

-- What the edges write, kept here: each edge behind the relay registers
-- itself and the slot it follows on the relay, and records its rebuilds
-- and its heartbeat (as on the origin, sql/migrations 001, 008 and 011).
CREATE TABLE edge (
    name             text PRIMARY KEY CHECK (name ~ '^[a-z0-9_]{1,40}$'),
    slot_name        text NOT NULL UNIQUE,
    region           text NOT NULL DEFAULT '',
    latitude         double precision,
    longitude        double precision,
    public_url       text NOT NULL DEFAULT '',
    last_seen        timestamptz NOT NULL DEFAULT now(),
    rebuilding_since timestamptz,
    serving_lsn      pg_lsn,
    public_addresses inet[] NOT NULL DEFAULT '{}',
    ready            boolean,
    replica_lag      interval,
    CONSTRAINT edge_coordinates CHECK (
        (latitude IS NULL) = (longitude IS NULL)
        AND latitude BETWEEN -90 AND 90
        AND longitude BETWEEN -180 AND 180)
);

-- Fetch counts of the edges behind the relay (as on the origin,
-- sql/migrations 006). They stay here: they reach neither the origin's
-- dashboard nor garbage collection's retention by use.
CREATE TABLE fetch_batch (
    edge       text NOT NULL CHECK (edge ~ '^[a-z0-9_]{1,40}$'),
    seq        bigint NOT NULL CHECK (seq > 0),
    flushed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (edge, seq)
);
CREATE TABLE fetch_count (
    edge     text NOT NULL,
    seq      bigint NOT NULL,
    hour     timestamptz NOT NULL,
    kind     text NOT NULL,
    key      text NOT NULL,
    country  text NOT NULL,
    requests bigint NOT NULL,
    FOREIGN KEY (edge, seq) REFERENCES fetch_batch ON DELETE CASCADE
);

-- Certificate storage for the edges behind the relay (as on the origin,
-- sql/migrations 010), which narthex edge-role create grants.
CREATE TABLE cert_object (
    key      text PRIMARY KEY CHECK (key <> '' AND key !~ '^/' AND key !~ '/$'),
    value    bytea NOT NULL,
    modified timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cert_object_prefix ON cert_object (key text_pattern_ops);
CREATE TABLE cert_lock (
    name       text PRIMARY KEY CHECK (name <> ''),
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- The same publication as the origin's, of the same columns.
CREATE PUBLICATION narthex FOR TABLE
    narinfo (hash, body, withdrawn),
    payload_location (url, store_id, key, state),
    store (id, name, kind, base_url, region, latitude, longitude, upload_priority, download_priority,
           read_only, write_only, settings);

COMMIT;

-- The subscription copies the origin's tables (copy_data), then applies
-- each origin transaction as one relay transaction, which the relay's
-- publication passes on whole. It cannot run inside a transaction block.
-- disable_on_error is left off: an apply error is retried, logged in the
-- relay's server log, until an operator fixes it.
CREATE SUBSCRIPTION narthex CONNECTION :'origin' PUBLICATION narthex WITH (slot_name = :'slot');
