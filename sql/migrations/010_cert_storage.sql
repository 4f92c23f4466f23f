-- Certificate storage shared by every node (package certstore, behind
-- certmagic): the keys and certificates certmagic stores, by its key
-- (slash-separated, as paths below a directory), and its named locks,
-- each held by one node until it lets go or stops renewing its lease.
CREATE TABLE cert_object (
    key      text PRIMARY KEY CHECK (key <> '' AND key !~ '^/' AND key !~ '/$'),
    value    bytea NOT NULL,
    modified timestamptz NOT NULL DEFAULT now()
);
-- Prefix scans for List and directory deletes (LIKE 'dir/%').
CREATE INDEX cert_object_prefix ON cert_object (key text_pattern_ops);

CREATE TABLE cert_lock (
    name       text PRIMARY KEY CHECK (name <> ''),
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);
