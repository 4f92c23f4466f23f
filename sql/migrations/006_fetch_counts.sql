-- Fetch counts flushed by edges. An edge writes a batch of counts in one
-- transaction together with the batch's row here, keyed by (edge, seq):
-- a batch sent again after its commit went unacknowledged conflicts on the
-- primary key and is counted once. No client address is kept anywhere:
-- a country (ISO 3166 alpha-2, '' when unknown) is all.
CREATE TABLE fetch_batch (
    edge       text NOT NULL CHECK (edge ~ '^[a-z0-9_]{1,40}$'),
    seq        bigint NOT NULL CHECK (seq > 0),
    flushed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (edge, seq)
);

-- The counts of each batch: requests of a kind for a key (a narinfo hash
-- for hits and misses, a NAR file URL for redirects, a client family for
-- client) from a country in an hour.
CREATE TABLE fetch_count (
    edge     text NOT NULL,
    seq      bigint NOT NULL,
    hour     timestamptz NOT NULL CHECK (date_trunc('hour', hour) = hour),
    kind     text NOT NULL CHECK (kind IN ('hit', 'miss', 'redirect', 'client')),
    key      text NOT NULL CHECK (key <> ''),
    country  text NOT NULL CHECK (country ~ '^([A-Z]{2})?$'),
    requests bigint NOT NULL CHECK (requests > 0),
    FOREIGN KEY (edge, seq) REFERENCES fetch_batch ON DELETE CASCADE
);
CREATE INDEX fetch_count_batch ON fetch_count (edge, seq);
CREATE INDEX fetch_count_hour ON fetch_count (hour);
