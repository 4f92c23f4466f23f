-- Locations recorded before sizes were: a location holds the whole file.
UPDATE payload_location l SET size = f.file_size FROM nar_file f WHERE f.url = l.url AND l.size IS NULL;

-- The bytes and files each store holds by the records (every location but
-- a missing one), kept by trigger, so that placing an upload reads one row
-- instead of summing a store's locations. It is not published: it changes
-- with every upload, and edges have no use for it.
CREATE TABLE store_usage (
    store_id integer PRIMARY KEY REFERENCES store (id) ON DELETE CASCADE,
    bytes    bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    files    bigint NOT NULL DEFAULT 0 CHECK (files >= 0)
);
INSERT INTO store_usage (store_id, bytes, files)
SELECT s.id, coalesce(sum(l.size) FILTER (WHERE l.state <> 'missing'), 0),
       count(l.url) FILTER (WHERE l.state <> 'missing')
FROM store s LEFT JOIN payload_location l ON l.store_id = s.id
GROUP BY s.id;

CREATE FUNCTION store_usage_new_store() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO store_usage (store_id) VALUES (NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER store_usage_new_store AFTER INSERT ON store
    FOR EACH ROW EXECUTE FUNCTION store_usage_new_store();

-- Moves a location's bytes in and out of its store's usage: what OLD
-- counted goes, what NEW counts comes. A location without a size counts
-- no bytes.
CREATE FUNCTION store_usage_location() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.state <> 'missing' THEN
        UPDATE store_usage SET bytes = bytes - coalesce(OLD.size, 0), files = files - 1
        WHERE store_id = OLD.store_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.state <> 'missing' THEN
        UPDATE store_usage SET bytes = bytes + coalesce(NEW.size, 0), files = files + 1
        WHERE store_id = NEW.store_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER store_usage_location AFTER INSERT OR DELETE OR UPDATE OF store_id, size, state ON payload_location
    FOR EACH ROW EXECUTE FUNCTION store_usage_location();

-- Room promised to uploads in flight, so that parallel uploads never take
-- a store past its max_size. An upload's reservation goes when its file is
-- recorded (in the same statement) or when it fails. The process that
-- holds it renews renewed_at while it runs; one left by a process that
-- died stops counting once it is not renewed, and is removed by the next
-- reservation in that store.
CREATE TABLE store_reservation (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id   integer NOT NULL REFERENCES store (id) ON DELETE CASCADE,
    bytes      bigint NOT NULL CHECK (bytes >= 0),
    holder     text NOT NULL,
    renewed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX store_reservation_store ON store_reservation (store_id);
CREATE INDEX store_reservation_holder ON store_reservation (holder);

-- Bulk loads that skip foreign-key triggers (session_replication_role =
-- replica) still keep the usage right.
ALTER TABLE store ENABLE ALWAYS TRIGGER store_usage_new_store;
ALTER TABLE payload_location ENABLE ALWAYS TRIGGER store_usage_location;
