-- The metadata of the cache. PostgreSQL is the source of truth; edges hold a
-- replica of what the publication at the end of this file carries.

-- One row per store path. hash is the 32-character nixbase32 hash part.
-- body is the exact narinfo text the edges serve, signatures included, so
-- that a signature over the text (Guix) survives byte for byte.
CREATE TABLE narinfo (
    hash       text PRIMARY KEY CHECK (hash ~ '^[0-9a-df-np-sv-z]{32}$'),
    name       text NOT NULL CHECK (name <> ''),
    nar_hash   text NOT NULL,
    nar_size   bigint NOT NULL CHECK (nar_size > 0),
    deriver    text,
    system     text,
    ca         text,
    sigs       text[] NOT NULL DEFAULT '{}',
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A compressed NAR file, named by its path relative to the cache root as it
-- stands in a narinfo's URL field (nar/<filehash>.nar.xz).
CREATE TABLE nar_file (
    url         text PRIMARY KEY,
    file_hash   text NOT NULL,
    file_size   bigint NOT NULL CHECK (file_size >= 0),
    compression text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Which files a narinfo lists. A file stays while any narinfo lists it.
CREATE TABLE narinfo_file (
    narinfo_hash text NOT NULL REFERENCES narinfo (hash) ON DELETE CASCADE,
    url          text NOT NULL REFERENCES nar_file (url),
    PRIMARY KEY (narinfo_hash, url)
);
CREATE INDEX narinfo_file_url ON narinfo_file (url);

-- The reference graph. A reference to an absent path is impossible, and a
-- path cannot be deleted while another path refers to it.
CREATE TABLE reference (
    referrer  text NOT NULL REFERENCES narinfo (hash) ON DELETE CASCADE,
    reference text NOT NULL REFERENCES narinfo (hash),
    PRIMARY KEY (referrer, reference),
    CHECK (referrer <> reference)
);
CREATE INDEX reference_reference ON reference (reference);

-- Named garbage-collection roots.
CREATE TABLE root (
    name         text PRIMARY KEY CHECK (name <> ''),
    narinfo_hash text NOT NULL REFERENCES narinfo (hash),
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Somewhere NAR bytes live. base_url is where clients download from.
CREATE TABLE store (
    id                integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text NOT NULL UNIQUE CHECK (name <> ''),
    kind              text NOT NULL CHECK (kind IN ('local', 's3', 'http')),
    base_url          text NOT NULL,
    region            text NOT NULL DEFAULT '',
    latitude          double precision,
    longitude         double precision,
    upload_priority   integer NOT NULL DEFAULT 50,
    download_priority integer NOT NULL DEFAULT 50,
    policy            text NOT NULL DEFAULT 'populate'
                      CHECK (policy IN ('populate', 'drain', 'read_only', 'write_only')),
    soft_max_size     bigint,
    max_size          bigint,
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- Where the bytes of a NAR file are: one row per store that holds them.
CREATE TABLE payload_location (
    url         text NOT NULL REFERENCES nar_file (url),
    store_id    integer NOT NULL REFERENCES store (id),
    key         text NOT NULL,
    verified_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (url, store_id)
);
CREATE INDEX payload_location_store ON payload_location (store_id);

-- Edge nodes. Each owns the logical replication slot slot_name.
CREATE TABLE edge (
    name       text PRIMARY KEY CHECK (name ~ '^[a-z0-9_]{1,40}$'),
    slot_name  text NOT NULL UNIQUE,
    region     text NOT NULL DEFAULT '',
    latitude   double precision,
    longitude  double precision,
    public_url text NOT NULL DEFAULT '',
    last_seen  timestamptz NOT NULL DEFAULT now()
);

-- Upload credentials. Only the SHA-256 of a token is stored.
CREATE TABLE upload_token (
    id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (name <> ''),
    token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

-- What edges need to answer, and nothing else: references, roots, tokens and
-- analytics never leave this database. Column lists need PostgreSQL 15.
CREATE PUBLICATION narthex FOR TABLE
    narinfo (hash, body),
    payload_location (url, store_id, key),
    store (id, name, kind, base_url, region, latitude, longitude, download_priority, policy);
