-- A store's usage (store_usage, 003) moves once per statement and store,
-- not once per location. The row trigger updated the store's one usage
-- row for every location a statement wrote: a statement that retires
-- thousands of NAR files (garbage collection) or records a batch of
-- copies (maintenance) made thousands of versions of that row, each
-- update following the chain of the ones before, and held the row locked
-- all along. Statement triggers with transition tables sum what moved by
-- store and update each store's row once, in store order, so that two
-- statements lock the rows of several stores in one order.
DROP TRIGGER store_usage_location ON payload_location;
DROP FUNCTION store_usage_location();

-- Each trigger sums what its statement moved by store, in or out, as each
-- location counts (every one but a missing one; a location without a
-- size counts no bytes), and updates each store's row once, in store
-- order.
CREATE FUNCTION store_usage_after_location_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    m record;
BEGIN
    FOR m IN SELECT store_id, coalesce(sum(size), 0) AS bytes, count(*) AS files
             FROM new_rows WHERE state <> 'missing' GROUP BY store_id ORDER BY store_id LOOP
        UPDATE store_usage SET bytes = bytes + m.bytes, files = files + m.files WHERE store_id = m.store_id;
    END LOOP;
    RETURN NULL;
END $$;

CREATE FUNCTION store_usage_after_location_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    m record;
BEGIN
    FOR m IN SELECT store_id, coalesce(sum(size), 0) AS bytes, count(*) AS files
             FROM old_rows WHERE state <> 'missing' GROUP BY store_id ORDER BY store_id LOOP
        UPDATE store_usage SET bytes = bytes - m.bytes, files = files - m.files WHERE store_id = m.store_id;
    END LOOP;
    RETURN NULL;
END $$;

-- An update moves what OLD counted out and what NEW counts in; most
-- updates (a verification's time) move nothing and update no row.
CREATE FUNCTION store_usage_after_location_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    m record;
BEGIN
    FOR m IN SELECT store_id, sum(bytes) AS bytes, sum(files) AS files FROM (
                 SELECT store_id, coalesce(size, 0) AS bytes, 1 AS files FROM new_rows WHERE state <> 'missing'
                 UNION ALL
                 SELECT store_id, -coalesce(size, 0), -1 FROM old_rows WHERE state <> 'missing') moved
             GROUP BY store_id HAVING sum(bytes) <> 0 OR sum(files) <> 0 ORDER BY store_id LOOP
        UPDATE store_usage SET bytes = bytes + m.bytes, files = files + m.files WHERE store_id = m.store_id;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER store_usage_location_insert AFTER INSERT ON payload_location
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION store_usage_after_location_insert();
CREATE TRIGGER store_usage_location_delete AFTER DELETE ON payload_location
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION store_usage_after_location_delete();
CREATE TRIGGER store_usage_location_update AFTER UPDATE ON payload_location
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION store_usage_after_location_update();

-- As before: bulk loads that skip foreign-key triggers still keep usage.
ALTER TABLE payload_location ENABLE ALWAYS TRIGGER store_usage_location_insert;
ALTER TABLE payload_location ENABLE ALWAYS TRIGGER store_usage_location_delete;
ALTER TABLE payload_location ENABLE ALWAYS TRIGGER store_usage_location_update;
