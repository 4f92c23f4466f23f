-- Deletes those of the locked narinfos $1 that are still garbage, with
-- what hangs off them, and marks the NAR files that lost their last
-- narinfo. It runs after the locks are granted, so its snapshot holds
-- everything committed by whoever held them.
--
-- keep is the part of the batch that must stay: a path with a root, one
-- uploaded after $2 or told present after $2, one fetched after $3 (when
-- not NULL), one that a path outside the batch refers to (an upload since
-- the mark, or a garbage path kept by an earlier batch), and, recursively,
-- what a kept path of the batch refers to. The rest goes, with its
-- references deleted here rather than by cascade: reference's foreign key
-- to what a path refers to is checked at the end of the statement, and
-- finds the references of a referrer deleted in the same batch gone only
-- if they went with the statement itself, not in a cascade that may run
-- after the check. The delete cascades to file listings, told marks and
-- the never-fetched row; the last-fetched rows go here. Nothing that
-- stays refers to what goes, so that foreign key always holds.
--
-- The files only the deleted paths listed get their unlisted time: their
-- locations stay for the payload grace.
WITH RECURSIVE batch (hash) AS (
    SELECT unnest($1::text[])
), keep (hash) AS (
    SELECT b.hash FROM batch b
    WHERE EXISTS (SELECT FROM root_path p WHERE p.narinfo_hash = b.hash)
       OR EXISTS (SELECT FROM narinfo n WHERE n.hash = b.hash AND n.created_at > $2::timestamptz)
       OR EXISTS (SELECT FROM narinfo_told t WHERE t.hash = b.hash AND t.told_at > $2::timestamptz)
       OR EXISTS (SELECT FROM path_last_fetched f
                  WHERE $3::timestamptz IS NOT NULL AND f.hash = b.hash AND f.last_fetched > $3::timestamptz)
       OR EXISTS (SELECT FROM reference r WHERE r.reference = b.hash AND r.referrer <> ALL ($1::text[]))
    UNION
    SELECT r.reference FROM keep k JOIN reference r ON r.referrer = k.hash
    WHERE r.reference = ANY ($1::text[])
), dead AS (
    SELECT hash FROM batch EXCEPT SELECT hash FROM keep
), files AS (
    SELECT DISTINCT l.url FROM narinfo_file l JOIN dead d ON d.hash = l.narinfo_hash
    WHERE NOT EXISTS (SELECT FROM narinfo_file o
                      WHERE o.url = l.url AND o.narinfo_hash NOT IN (SELECT hash FROM dead))
), refs AS (
    DELETE FROM reference r USING dead d WHERE r.referrer = d.hash
), gone AS (
    DELETE FROM narinfo n USING dead d WHERE n.hash = d.hash RETURNING n.hash
), unfetched AS (
    DELETE FROM path_last_fetched f USING gone g WHERE f.hash = g.hash
), unlisted AS (
    INSERT INTO nar_file_unlisted (url, unlisted_at)
    SELECT url, now() FROM files
    ON CONFLICT (url) DO UPDATE SET unlisted_at = EXCLUDED.unlisted_at
    RETURNING url
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM unlisted);
