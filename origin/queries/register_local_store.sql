-- Registers the origin's local store, or updates its download base URL when
-- a store of that name exists. Relies on UNIQUE (store.name) for the conflict
-- target. The WHERE keeps a store of another kind from being taken over: no
-- row comes back then.
INSERT INTO store (name, kind, base_url)
VALUES ($1, 'local', $2)
ON CONFLICT (name) DO UPDATE SET base_url = EXCLUDED.base_url
WHERE store.kind = 'local'
RETURNING id;
