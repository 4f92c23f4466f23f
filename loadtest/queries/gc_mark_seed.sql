-- The seeds of a mark, as the collector takes them: the paths pinned by
-- an unexpired root, uploaded within the grace $1, told present to an
-- uploader within it, or fetched within the last $2 days (none when $2
-- is 0). Dropped with the mark's transaction.
CREATE TEMP TABLE gc_seed ON COMMIT DROP AS
SELECT p.narinfo_hash AS hash
FROM root_path p JOIN root r ON r.name = p.root
WHERE r.expires_at IS NULL OR r.expires_at > now()
UNION
SELECT hash FROM narinfo WHERE created_at > now() - $1::interval
UNION
SELECT hash FROM narinfo_told WHERE told_at > now() - $1::interval
UNION
SELECT hash FROM path_last_fetched
WHERE $2::integer > 0 AND last_fetched > now() - make_interval(days => $2::integer);
