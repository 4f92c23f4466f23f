-- The tables a native PostgreSQL subscriber to the narthex publication
-- needs: the three published tables with exactly the published columns
-- (the newest publication of sql/migrations) and their
-- primary keys, nothing else.
--
-- Why not `narthex migrate` on the subscriber: the migrated narinfo table has
-- NOT NULL columns the publication does not carry (name, nar_hash,
-- nar_size), so the apply worker's inserts fail with not-null violations,
-- and payload_location has a foreign key to nar_file, which is not
-- published. A subscriber holds what an edge holds, so this is the
-- like-for-like comparison.
CREATE TABLE narinfo (
    hash      text PRIMARY KEY,
    body      text NOT NULL,
    withdrawn boolean NOT NULL
);

CREATE TABLE store (
    id                integer PRIMARY KEY,
    name              text NOT NULL,
    kind              text NOT NULL,
    base_url          text NOT NULL,
    region            text NOT NULL,
    latitude          double precision,
    longitude         double precision,
    upload_priority   integer,
    download_priority integer,
    read_only         boolean NOT NULL,
    write_only        boolean NOT NULL,
    settings          jsonb NOT NULL
);

CREATE TABLE payload_location (
    url      text NOT NULL,
    store_id integer NOT NULL,
    key      text NOT NULL,
    state    text NOT NULL,
    PRIMARY KEY (url, store_id)
);
