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
-- The origin removes the batches past their retention, oldest first.
CREATE INDEX fetch_batch_flushed ON fetch_batch (flushed_at);

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

-- Roll-ups, kept by the trigger below in the transaction of each batch,
-- so that each count is in them exactly once: requests by day and key
-- (what is fetched, and what is missed, path by path), and by hour, edge,
-- country and kind, with the bytes of the redirected files.
CREATE TABLE fetch_daily (
    day      date NOT NULL,
    kind     text NOT NULL,
    key      text NOT NULL,
    requests bigint NOT NULL,
    PRIMARY KEY (day, kind, key)
);
-- One key's days, and the busiest keys of a kind.
CREATE INDEX fetch_daily_key ON fetch_daily (kind, key, day);

CREATE TABLE fetch_hourly (
    hour     timestamptz NOT NULL,
    edge     text NOT NULL,
    country  text NOT NULL,
    kind     text NOT NULL,
    requests bigint NOT NULL,
    bytes    bigint NOT NULL,
    PRIMARY KEY (hour, edge, country, kind)
);

-- When each path was last used: a narinfo hit, or a redirect to a NAR
-- file it lists (clients that hold a NAR still ask for its narinfo), to
-- the hour. Garbage collection reads it. It is a table of its own, not a
-- column of narinfo, so that counting never changes a published row; a
-- row outlives its path until collection removes both.
CREATE TABLE path_last_fetched (
    hash         text PRIMARY KEY,
    last_fetched timestamptz NOT NULL
);

-- SECURITY DEFINER: an edge's role may insert fetch counts and nothing
-- else; the roll-ups are written with the owner's rights.
CREATE FUNCTION fetch_count_rollup() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO fetch_daily (day, kind, key, requests)
    SELECT (hour AT TIME ZONE 'UTC')::date, kind, key, sum(requests) FROM new_rows GROUP BY 1, 2, 3
    ON CONFLICT (day, kind, key) DO UPDATE SET requests = fetch_daily.requests + EXCLUDED.requests;

    INSERT INTO fetch_hourly (hour, edge, country, kind, requests, bytes)
    SELECT c.hour, c.edge, c.country, c.kind, sum(c.requests), coalesce(sum(c.requests * f.file_size), 0)
    FROM new_rows c LEFT JOIN nar_file f ON c.kind = 'redirect' AND f.url = c.key
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (hour, edge, country, kind) DO UPDATE
        SET requests = fetch_hourly.requests + EXCLUDED.requests, bytes = fetch_hourly.bytes + EXCLUDED.bytes;

    INSERT INTO path_last_fetched (hash, last_fetched)
    SELECT hash, max(hour) FROM (
        SELECT key AS hash, hour FROM new_rows WHERE kind = 'hit'
        UNION ALL
        SELECT f.narinfo_hash, c.hour FROM new_rows c JOIN narinfo_file f ON f.url = c.key WHERE c.kind = 'redirect'
    ) used
    GROUP BY hash
    ON CONFLICT (hash) DO UPDATE SET last_fetched = greatest(path_last_fetched.last_fetched, EXCLUDED.last_fetched);
    RETURN NULL;
END $$;
CREATE TRIGGER fetch_count_rollup AFTER INSERT ON fetch_count
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fetch_count_rollup();
