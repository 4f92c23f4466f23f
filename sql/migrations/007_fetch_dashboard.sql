-- Daily roll-ups by edge and by country, so that the dashboard's series
-- and tables over days read a few thousand rows whatever the number of
-- paths: a year of 10 edges and 50 countries is under 75,000 rows in
-- each, where fetch_hourly holds 24 times as many per edge and country.
CREATE TABLE fetch_edge_daily (
    day      date NOT NULL,
    edge     text NOT NULL,
    kind     text NOT NULL,
    requests bigint NOT NULL,
    bytes    bigint NOT NULL,
    PRIMARY KEY (day, edge, kind)
);

CREATE TABLE fetch_country_daily (
    day      date NOT NULL,
    country  text NOT NULL,
    kind     text NOT NULL,
    requests bigint NOT NULL,
    bytes    bigint NOT NULL,
    PRIMARY KEY (day, country, kind)
);

INSERT INTO fetch_edge_daily (day, edge, kind, requests, bytes)
SELECT (hour AT TIME ZONE 'UTC')::date, edge, kind, sum(requests), sum(bytes)
FROM fetch_hourly GROUP BY 1, 2, 3;

INSERT INTO fetch_country_daily (day, country, kind, requests, bytes)
SELECT (hour AT TIME ZONE 'UTC')::date, country, kind, sum(requests), sum(bytes)
FROM fetch_hourly GROUP BY 1, 2, 3;

-- Requests by key over the last day (today, UTC), 7, 30 and 365 days, so that the busiest
-- paths and the most-missed hashes of a window are the first rows of an
-- index rather than a sum over every day of it (a year of fetch_daily is
-- tens of millions of rows). A window of n days holds, for each hit and
-- miss key, the requests of the days after fetch_window_state.through - n:
-- batches add to it (fetch_count_rollup) and fetch_window_advance takes
-- out, day by day, the day each window leaves.
CREATE TABLE fetch_window_state (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    through date NOT NULL
);
INSERT INTO fetch_window_state (through) VALUES ((now() AT TIME ZONE 'UTC')::date);

CREATE TABLE fetch_window (
    days     integer NOT NULL CHECK (days IN (1, 7, 30, 365)),
    kind     text NOT NULL CHECK (kind IN ('hit', 'miss')),
    key      text NOT NULL,
    requests bigint NOT NULL,
    PRIMARY KEY (days, kind, key)
);
CREATE INDEX fetch_window_top ON fetch_window (days, kind, requests DESC, key);

INSERT INTO fetch_window (days, kind, key, requests)
SELECT w.days, d.kind, d.key, sum(d.requests)
FROM fetch_daily d
JOIN (VALUES (1), (7), (30), (365)) w (days) ON d.day > (SELECT through FROM fetch_window_state) - w.days
WHERE d.kind IN ('hit', 'miss')
GROUP BY 1, 2, 3;

-- Moves the windows up to today (UTC): for each day passed since the last
-- move, the requests of the day a window leaves are taken out of it, and
-- keys left with none are removed. The state row's lock makes a move and
-- the batches adding to the windows (which hold it FOR SHARE) take turns,
-- so that every count is added and taken out once. After more than a
-- year away, every window is rebuilt from fetch_daily instead.
CREATE FUNCTION fetch_window_advance() RETURNS void LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    today date := (now() AT TIME ZONE 'UTC')::date;
    through_ date;
BEGIN
    SELECT through INTO through_ FROM fetch_window_state FOR UPDATE;
    IF through_ >= today THEN
        RETURN;
    END IF;
    IF today - through_ > 365 THEN
        DELETE FROM fetch_window;
        INSERT INTO fetch_window (days, kind, key, requests)
        SELECT w.days, d.kind, d.key, sum(d.requests)
        FROM fetch_daily d JOIN (VALUES (1), (7), (30), (365)) w (days) ON d.day > today - w.days
        WHERE d.kind IN ('hit', 'miss')
        GROUP BY 1, 2, 3;
    ELSE
        WHILE through_ < today LOOP
            through_ := through_ + 1;
            UPDATE fetch_window f SET requests = f.requests - d.requests
            FROM fetch_daily d JOIN (VALUES (1), (7), (30), (365)) w (days) ON d.day = through_ - w.days
            WHERE d.kind IN ('hit', 'miss') AND f.days = w.days AND f.kind = d.kind AND f.key = d.key;
        END LOOP;
        DELETE FROM fetch_window WHERE days IN (1, 7, 30, 365) AND kind IN ('hit', 'miss') AND requests <= 0;
    END IF;
    UPDATE fetch_window_state SET through = today;
END $$;

-- The paths no edge has counted a use of since their upload, kept as
-- paths are uploaded and used, so that the dashboard counts and lists
-- them from an index of their own instead of comparing every path with
-- path_last_fetched. A path uploaded again after collection removed it is
-- not listed if it had been used before.
CREATE TABLE path_unfetched (
    hash       text PRIMARY KEY REFERENCES narinfo (hash) ON DELETE CASCADE,
    created_at timestamptz NOT NULL
);
CREATE INDEX path_unfetched_created ON path_unfetched (created_at, hash);

INSERT INTO path_unfetched (hash, created_at)
SELECT n.hash, n.created_at FROM narinfo n
WHERE NOT EXISTS (SELECT 1 FROM path_last_fetched l WHERE l.hash = n.hash);

CREATE FUNCTION path_unfetched_upload() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM path_last_fetched WHERE hash = NEW.hash) THEN
        INSERT INTO path_unfetched (hash, created_at) VALUES (NEW.hash, NEW.created_at);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER path_unfetched_upload AFTER INSERT ON narinfo
    FOR EACH ROW EXECUTE FUNCTION path_unfetched_upload();

-- As in 006, with the counts of the batch summed once by hour, edge,
-- country and kind for the hourly table and both daily ones, the windows
-- moved up to today and added to, and the paths used taken out of
-- path_unfetched.
CREATE OR REPLACE FUNCTION fetch_count_rollup() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    through_ date;
BEGIN
    INSERT INTO fetch_daily (day, kind, key, requests)
    SELECT (hour AT TIME ZONE 'UTC')::date, kind, key, sum(requests) FROM new_rows GROUP BY 1, 2, 3
    ON CONFLICT (day, kind, key) DO UPDATE SET requests = fetch_daily.requests + EXCLUDED.requests;

    WITH sums AS (
        SELECT c.hour, c.edge, c.country, c.kind, sum(c.requests) AS requests,
               coalesce(sum(c.requests * f.file_size), 0) AS bytes
        FROM new_rows c LEFT JOIN nar_file f ON c.kind = 'redirect' AND f.url = c.key
        GROUP BY 1, 2, 3, 4
    ), hourly AS (
        INSERT INTO fetch_hourly (hour, edge, country, kind, requests, bytes)
        SELECT hour, edge, country, kind, requests, bytes FROM sums
        ON CONFLICT (hour, edge, country, kind) DO UPDATE
            SET requests = fetch_hourly.requests + EXCLUDED.requests, bytes = fetch_hourly.bytes + EXCLUDED.bytes
    ), by_edge AS (
        INSERT INTO fetch_edge_daily (day, edge, kind, requests, bytes)
        SELECT (hour AT TIME ZONE 'UTC')::date, edge, kind, sum(requests), sum(bytes) FROM sums GROUP BY 1, 2, 3
        ON CONFLICT (day, edge, kind) DO UPDATE
            SET requests = fetch_edge_daily.requests + EXCLUDED.requests, bytes = fetch_edge_daily.bytes + EXCLUDED.bytes
    )
    INSERT INTO fetch_country_daily (day, country, kind, requests, bytes)
    SELECT (hour AT TIME ZONE 'UTC')::date, country, kind, sum(requests), sum(bytes) FROM sums GROUP BY 1, 2, 3
    ON CONFLICT (day, country, kind) DO UPDATE
        SET requests = fetch_country_daily.requests + EXCLUDED.requests, bytes = fetch_country_daily.bytes + EXCLUDED.bytes;

    -- Checked without a lock first, so that batches share the state row
    -- and only the first batch of a day waits to move the windows.
    IF (SELECT through FROM fetch_window_state) < (now() AT TIME ZONE 'UTC')::date THEN
        PERFORM fetch_window_advance();
    END IF;
    SELECT through INTO through_ FROM fetch_window_state FOR SHARE;
    INSERT INTO fetch_window (days, kind, key, requests)
    SELECT w.days, c.kind, c.key, sum(c.requests)
    FROM new_rows c JOIN (VALUES (1), (7), (30), (365)) w (days) ON (c.hour AT TIME ZONE 'UTC')::date > through_ - w.days
    WHERE c.kind IN ('hit', 'miss')
    GROUP BY 1, 2, 3
    ON CONFLICT (days, kind, key) DO UPDATE SET requests = fetch_window.requests + EXCLUDED.requests;

    WITH used AS (
        SELECT hash, max(hour) AS hour FROM (
            SELECT key AS hash, hour FROM new_rows WHERE kind = 'hit'
            UNION ALL
            SELECT f.narinfo_hash, c.hour FROM new_rows c JOIN narinfo_file f ON f.url = c.key WHERE c.kind = 'redirect'
        ) u
        GROUP BY hash
    ), last AS (
        INSERT INTO path_last_fetched (hash, last_fetched)
        SELECT hash, hour FROM used
        ON CONFLICT (hash) DO UPDATE SET last_fetched = greatest(path_last_fetched.last_fetched, EXCLUDED.last_fetched)
    )
    DELETE FROM path_unfetched p USING used WHERE p.hash = used.hash;
    RETURN NULL;
END $$;

-- The trigger moves the windows, with its owner's rights; so does the
-- origin's sweep. Nobody else needs to.
REVOKE EXECUTE ON FUNCTION fetch_window_advance() FROM PUBLIC;
