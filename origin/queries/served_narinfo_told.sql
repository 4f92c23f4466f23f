-- The text of narinfo $1 as clients get it (see served_narinfo.sql), for
-- an authenticated client, which may be an uploader checking what it need
-- not upload: the path is marked told, so that garbage collection keeps
-- it for its grace period while the uploader sends paths that refer to
-- it. The KEY SHARE lock orders this with a collection's delete: one that
-- is under way is waited for, and then the row is gone and the answer is
-- 404; one that comes later finds the mark. A mark less than a minute old
-- is left as it is, so that repeated checks write nothing.
WITH n AS (
    SELECT hash, body FROM narinfo WHERE hash = $1 AND NOT withdrawn FOR KEY SHARE
), told AS (
    INSERT INTO narinfo_told (hash, told_at)
    SELECT hash, now() FROM n
    ON CONFLICT (hash) DO UPDATE SET told_at = EXCLUDED.told_at
    WHERE narinfo_told.told_at < EXCLUDED.told_at - interval '1 minute'
)
SELECT body FROM n;
