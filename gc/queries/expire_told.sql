-- Told marks past the grace period ($1) protect nothing any more.
WITH paths AS (
    DELETE FROM narinfo_told WHERE told_at < $1::timestamptz RETURNING 1
), files AS (
    DELETE FROM nar_file_told WHERE told_at < $1::timestamptz RETURNING 1
)
SELECT (SELECT count(*) FROM paths) + (SELECT count(*) FROM files);
