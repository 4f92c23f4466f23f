-- Garbage collection: roots that pin several paths, what keeps a path or a
-- file alive for a while after an uploader was told it is present, when a
-- file lost its last narinfo, the payloads whose bytes wait behind the
-- edges' replication, and a record of each run.

-- A root pins one or more paths and, through the reference graph, their
-- closures. The foreign key to narinfo has no cascade: a rooted path
-- cannot be deleted by anything while its root stands. An expired root
-- protects nothing; collection removes it.
CREATE TABLE root_path (
    root         text NOT NULL REFERENCES root (name) ON DELETE CASCADE,
    narinfo_hash text NOT NULL REFERENCES narinfo (hash),
    PRIMARY KEY (root, narinfo_hash)
);
CREATE INDEX root_path_narinfo ON root_path (narinfo_hash);
INSERT INTO root_path (root, narinfo_hash) SELECT name, narinfo_hash FROM root;
ALTER TABLE root DROP COLUMN narinfo_hash, ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
UPDATE root SET updated_at = created_at;

-- Mark seeds: paths uploaded within the grace period.
CREATE INDEX narinfo_created_at ON narinfo (created_at);

-- Paths the origin answered 200 for to an authenticated client: an
-- uploader that was told a path is there uploads paths that reference it,
-- so it stays for the grace period after. Written with a KEY SHARE lock on
-- the narinfo row, which a collection's delete waits for (and which waits
-- for a delete in flight, then finds no row): either the answer is 404, or
-- the collection sees the row.
CREATE TABLE narinfo_told (
    hash    text PRIMARY KEY REFERENCES narinfo (hash) ON DELETE CASCADE,
    told_at timestamptz NOT NULL
);

-- The same for NAR files: one an uploader was told is there (HEAD), or
-- that is being written again, is not retired within the grace period.
CREATE TABLE nar_file_told (
    url     text PRIMARY KEY REFERENCES nar_file (url) ON DELETE CASCADE,
    told_at timestamptz NOT NULL
);

-- NAR files whose last narinfo collection deleted, and when. Their
-- locations stay for the payload grace after, so that a client holding
-- the narinfo (an edge's Cache-Control, Nix's own narinfo cache) can still
-- be sent to the bytes.
CREATE TABLE nar_file_unlisted (
    url         text PRIMARY KEY REFERENCES nar_file (url) ON DELETE CASCADE,
    unlisted_at timestamptz NOT NULL
);

-- Bytes in a store that no location records any more, deleted once every
-- live edge has applied the delete of their location: lsn is a WAL
-- position past that delete's commit (NULL for the moment between the
-- commit and reading it). A writer about to write a key drops its
-- tombstone first (payload_write_begin), so bytes written again are never
-- deleted by an older decision.
CREATE TABLE payload_tombstone (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url        text NOT NULL,
    store_id   integer NOT NULL REFERENCES store (id) ON DELETE CASCADE,
    key        text NOT NULL,
    size       bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    lsn        pg_lsn,
    UNIQUE (store_id, key)
);
CREATE INDEX payload_tombstone_lsn ON payload_tombstone (lsn, id);

-- Called by every writer of a NAR file's bytes (uploads, maintenance
-- copies) before it writes key in store: marks the file told, waiting for
-- a collection retiring it, and then drops any tombstone of the key,
-- waiting for a deletion of its bytes in flight. Two statements, each
-- with its own snapshot, so that the second sees what a retirement the
-- first waited for committed.
CREATE FUNCTION payload_write_begin(url_ text, store_id_ integer, key_ text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO nar_file_told (url, told_at)
    SELECT f.url, now() FROM nar_file f WHERE f.url = url_ FOR KEY SHARE
    ON CONFLICT (url) DO UPDATE SET told_at = EXCLUDED.told_at;
    DELETE FROM payload_tombstone t WHERE t.store_id = store_id_ AND t.key = key_;
END $$;

-- An edge that bootstraps a new replica while serving its old one says so
-- here, with the LSN the old one reflects: its payloads are fenced at that
-- LSN until it switches over.
ALTER TABLE edge
    ADD COLUMN rebuilding_since timestamptz,
    ADD COLUMN serving_lsn      pg_lsn;

-- One row per collection, for the dashboard and /metrics.
CREATE TABLE gc_run (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dry_run        boolean NOT NULL,
    phase          text NOT NULL DEFAULT 'mark',
    started_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    roots_expired  bigint NOT NULL DEFAULT 0,
    live           bigint NOT NULL DEFAULT 0,
    garbage        bigint NOT NULL DEFAULT 0,
    paths_swept    bigint NOT NULL DEFAULT 0,
    paths_kept     bigint NOT NULL DEFAULT 0,
    files_retired  bigint NOT NULL DEFAULT 0,
    bytes_freed    bigint NOT NULL DEFAULT 0,
    objects_freed  bigint NOT NULL DEFAULT 0,
    bytes_fenced   bigint NOT NULL DEFAULT 0,
    objects_fenced bigint NOT NULL DEFAULT 0,
    mark_seconds   double precision,
    sweep_seconds  double precision,
    error          text NOT NULL DEFAULT ''
);
CREATE INDEX gc_run_started ON gc_run (started_at DESC);
