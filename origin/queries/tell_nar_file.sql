-- Marks NAR file $1 told, for an authenticated client that asked for it:
-- an uploader told the file is there lists it in the narinfo it uploads
-- next, so garbage collection keeps it for its grace period. Reports
-- whether the file is recorded at all: one that is not (retired by a
-- collection, its bytes waiting to be deleted) is not there. The KEY
-- SHARE lock orders this with a retirement as served_narinfo_told.sql
-- does with a path's delete.
WITH f AS (
    SELECT url FROM nar_file WHERE url = $1 FOR KEY SHARE
), told AS (
    INSERT INTO nar_file_told (url, told_at)
    SELECT url, now() FROM f
    ON CONFLICT (url) DO UPDATE SET told_at = EXCLUDED.told_at
    WHERE nar_file_told.told_at < EXCLUDED.told_at - interval '1 minute'
)
SELECT EXISTS (SELECT FROM f);
