-- A narinfo is withdrawn while a NAR file it lists has no good location in
-- a store clients download from (not write_only): edges answer it as a
-- miss, so that a client that gets a narinfo can always get its NAR. It is
-- kept here by triggers, whoever changes a location, a listing or a store,
-- and returns to service as soon as every file it lists has a good copy
-- again. The row stays, body and all, so nothing is lost while it is out.
ALTER TABLE narinfo ADD COLUMN withdrawn boolean NOT NULL DEFAULT false;
CREATE INDEX narinfo_withdrawn ON narinfo (hash) WHERE withdrawn;

-- Sets withdrawn on the narinfos that list any of the files urls, from
-- where those narinfos' files are now.
CREATE FUNCTION narinfo_refresh_withdrawn(urls text[]) RETURNS void LANGUAGE sql AS $$
    UPDATE narinfo n SET withdrawn = w.withdrawn
    FROM (
        SELECT f.narinfo_hash, bool_or(NOT EXISTS (
            SELECT FROM payload_location l JOIN store s ON s.id = l.store_id
            WHERE l.url = f.url AND l.state = 'good' AND NOT s.write_only)) AS withdrawn
        FROM narinfo_file f
        WHERE f.narinfo_hash IN (SELECT narinfo_hash FROM narinfo_file WHERE url = ANY (urls))
        GROUP BY f.narinfo_hash
    ) w
    WHERE n.hash = w.narinfo_hash AND n.withdrawn <> w.withdrawn;
$$;

-- Statement triggers with transition tables, so that a bulk change of
-- locations refreshes each narinfo once.
CREATE FUNCTION withdrawn_after_location_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM narinfo_refresh_withdrawn(ARRAY(SELECT DISTINCT url FROM new_rows));
    RETURN NULL;
END $$;
CREATE FUNCTION withdrawn_after_location_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM narinfo_refresh_withdrawn(ARRAY(SELECT url FROM new_rows UNION SELECT url FROM old_rows));
    RETURN NULL;
END $$;
CREATE FUNCTION withdrawn_after_location_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM narinfo_refresh_withdrawn(ARRAY(SELECT DISTINCT url FROM old_rows));
    RETURN NULL;
END $$;
CREATE TRIGGER withdrawn_after_location_insert AFTER INSERT ON payload_location
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION withdrawn_after_location_insert();
CREATE TRIGGER withdrawn_after_location_update AFTER UPDATE ON payload_location
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION withdrawn_after_location_update();
CREATE TRIGGER withdrawn_after_location_delete AFTER DELETE ON payload_location
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION withdrawn_after_location_delete();

-- A narinfo is checked when it lists its files, at upload.
CREATE FUNCTION withdrawn_after_listing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM narinfo_refresh_withdrawn(ARRAY(SELECT DISTINCT url FROM new_rows));
    RETURN NULL;
END $$;
CREATE TRIGGER withdrawn_after_listing AFTER INSERT ON narinfo_file
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION withdrawn_after_listing();

-- A store that becomes write-only (or stops being) changes what clients
-- can download.
CREATE FUNCTION withdrawn_after_store_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM narinfo_refresh_withdrawn(ARRAY(
        SELECT DISTINCT l.url FROM payload_location l
        JOIN new_rows n ON n.id = l.store_id JOIN old_rows o ON o.id = n.id
        WHERE n.write_only <> o.write_only));
    RETURN NULL;
END $$;
CREATE TRIGGER withdrawn_after_store_update AFTER UPDATE ON store
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION withdrawn_after_store_update();

-- Narinfos whose files have no good location now.
SELECT narinfo_refresh_withdrawn(ARRAY(SELECT url FROM nar_file));

-- Edges learn it with the narinfo.
ALTER PUBLICATION narthex SET TABLE
    narinfo (hash, body, withdrawn),
    payload_location (url, store_id, key, state),
    store (id, name, kind, base_url, region, latitude, longitude, upload_priority, download_priority,
           read_only, write_only, settings);
