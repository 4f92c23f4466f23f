-- Registers the store that the load tool's paths are located in: a mirror
-- that does not exist, since the tool measures metadata, not downloads.
-- Relies on UNIQUE (store.name) for the conflict target.
INSERT INTO store (name, kind, base_url, read_only)
VALUES ('loadtest', 'http', 'http://loadtest.invalid', true)
ON CONFLICT (name) DO NOTHING;
