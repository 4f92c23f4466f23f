-- The http store named $1: the existing row of that name, or a new one for
-- base URL $2, read-only (an http mirror is never written to) and without
-- priorities, so that copies elsewhere (the origin's own disk, an S3
-- bucket) are downloaded from first. The caller compares kind and base_url
-- with what it asked for, so that an existing store of another kind or URL
-- is never taken over. UNIQUE (store.name) settles a concurrent insert of
-- the same name: then no row comes back, and the caller asks again.
WITH existing AS (
    SELECT id, kind, base_url FROM store WHERE name = $1
), inserted AS (
    INSERT INTO store (name, kind, base_url, read_only)
    SELECT $1, 'http', $2, true
    WHERE NOT EXISTS (SELECT FROM existing)
    ON CONFLICT (name) DO NOTHING
    RETURNING id, kind, base_url
)
SELECT id, kind, base_url FROM existing
UNION ALL
SELECT id, kind, base_url FROM inserted;
