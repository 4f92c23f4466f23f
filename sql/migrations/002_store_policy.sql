-- Store policy as independent settings, as operators know them from
-- debusine's storage design, instead of one enum:
--   populate    maintenance copies every payload the store lacks into it;
--   drain       maintenance moves every payload out of it (to drain_to when
--               set, else to stores chosen by the upload rules);
--   read_only   nothing new is written to it (downloads still come from it);
--   write_only  it is never downloaded from (a backup);
--   soft_max_size  maintenance moves payloads out past it;
--   max_size       never exceeded, not even while uploads are in flight.
-- upload_priority and download_priority are tried in descending order, an
-- unset one counted lowest.
ALTER TABLE store
    ADD COLUMN populate   boolean NOT NULL DEFAULT false,
    ADD COLUMN drain      boolean NOT NULL DEFAULT false,
    ADD COLUMN drain_to   integer REFERENCES store (id),
    ADD COLUMN read_only  boolean NOT NULL DEFAULT false,
    ADD COLUMN write_only boolean NOT NULL DEFAULT false,
    -- What a process needs to reach the store beyond base_url, by kind (the
    -- S3 endpoint, region, bucket, key prefix, addressing, presign expiry,
    -- credentials profile name). It is replicated: never a secret.
    ADD COLUMN settings   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object');

UPDATE store SET
    populate   = policy = 'populate',
    drain      = policy = 'drain',
    read_only  = policy = 'read_only',
    write_only = policy = 'write_only';

ALTER TABLE store
    ALTER COLUMN upload_priority DROP NOT NULL,
    ALTER COLUMN upload_priority DROP DEFAULT,
    ALTER COLUMN download_priority DROP NOT NULL,
    ALTER COLUMN download_priority DROP DEFAULT,
    ADD CONSTRAINT store_read_only_or_write_only CHECK (NOT (read_only AND write_only)),
    ADD CONSTRAINT store_drain_to CHECK (drain_to IS NULL OR (drain AND drain_to <> id)),
    ADD CONSTRAINT store_soft_max_size CHECK (soft_max_size IS NULL OR soft_max_size >= 0),
    ADD CONSTRAINT store_max_size CHECK (max_size IS NULL OR max_size >= 0),
    ADD CONSTRAINT store_soft_under_max CHECK (soft_max_size IS NULL OR max_size IS NULL OR soft_max_size <= max_size);

-- Each location's size and state: good, missing (the store does not have
-- it) or corrupt (its bytes do not hash to the file's); state_at is when
-- the state was last set, verified_at when its bytes last hashed right.
ALTER TABLE payload_location
    ADD COLUMN size     bigint CHECK (size >= 0),
    ADD COLUMN state    text NOT NULL DEFAULT 'good' CHECK (state IN ('good', 'missing', 'corrupt')),
    ADD COLUMN state_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX payload_location_not_good ON payload_location (store_id) WHERE state <> 'good';

-- Maintenance work, one row a job, so that progress can be shown and a
-- killed run resumed. What is left to do is never read from here but from
-- payload_location itself (a copy is done once its location is recorded).
CREATE TABLE store_job (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id    integer NOT NULL REFERENCES store (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('populate', 'drain', 'evict', 'verify', 'sweep')),
    total       bigint NOT NULL DEFAULT 0 CHECK (total >= 0),
    done        bigint NOT NULL DEFAULT 0 CHECK (done >= 0),
    bytes       bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    failed      bigint NOT NULL DEFAULT 0 CHECK (failed >= 0),
    error       text NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX store_job_running ON store_job (store_id) WHERE finished_at IS NULL;

-- Edges rank locations by state, coordinates and priorities, and presign
-- from settings; the policy column goes once no publication lists it.
ALTER PUBLICATION narthex SET TABLE
    narinfo (hash, body),
    payload_location (url, store_id, key, state),
    store (id, name, kind, base_url, region, latitude, longitude, upload_priority, download_priority,
           read_only, write_only, settings);

ALTER TABLE store DROP COLUMN policy;

-- Send every store row again, so that edges bootstrapped before this
-- migration learn the new columns.
UPDATE store SET settings = settings;
