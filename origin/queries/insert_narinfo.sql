-- Stores a narinfo with its NAR files $10 and the references $11 (itself
-- excluded by the caller), unless one with its hash exists. One statement,
-- so that one round trip commits it all.
--
-- ON CONFLICT relies on the primary key: a concurrent insert of the same
-- hash makes this one wait for that transaction and then insert nothing and
-- return no row, so the caller compares with the committed one instead of
-- failing.
--
-- The foreign keys are checked at the end of the statement, when the
-- narinfo row of the WITH clause is there. The one from narinfo_file to
-- nar_file takes a KEY SHARE lock on each file row, and the one from
-- reference to narinfo on each referenced row, so a concurrent delete of a
-- file or of a referenced path waits for this statement or makes it fail
-- with SQLSTATE 23503: the graph stays closed.
WITH info AS (
    INSERT INTO narinfo (hash, name, nar_hash, nar_size, deriver, system, ca, sigs, body)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (hash) DO NOTHING
    RETURNING hash
), files AS (
    INSERT INTO narinfo_file (narinfo_hash, url)
    SELECT info.hash, url FROM info, unnest($10::text[]) AS url
), refs AS (
    INSERT INTO reference (referrer, reference)
    SELECT info.hash, ref FROM info, unnest($11::text[]) AS ref
    ON CONFLICT DO NOTHING
)
SELECT hash FROM info;
