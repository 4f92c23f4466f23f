-- Retires those of the locked NAR files $1 that are still ready (the
-- conditions of retirable_files.sql, with $2 and $3 its $1 and $2, read
-- after the locks were granted): their locations go, so edges stop
-- sending clients to them once they apply this transaction, and each
-- location's bytes get a tombstone, to be deleted once every live edge has
-- (a missing location has no bytes to delete). The file row goes last in
-- the same statement: payload_location's foreign key is checked at its
-- end. A tombstone of the same key from an earlier retirement is
-- replaced: the new one waits for the new delete.
WITH ready AS (
    SELECT f.url FROM nar_file f
    WHERE f.url = ANY ($1::text[])
      AND f.created_at < $2::timestamptz
      AND NOT EXISTS (SELECT FROM narinfo_file l WHERE l.url = f.url)
      AND NOT EXISTS (SELECT FROM nar_file_told t WHERE t.url = f.url AND t.told_at >= $2::timestamptz)
      AND NOT EXISTS (SELECT FROM nar_file_unlisted u WHERE u.url = f.url AND u.unlisted_at >= $3::timestamptz)
      AND NOT EXISTS (SELECT FROM store_reservation r WHERE r.url = f.url)
), locations AS (
    DELETE FROM payload_location l USING ready r WHERE l.url = r.url
    RETURNING l.url, l.store_id, l.key, coalesce(l.size, 0) AS size, l.state
), tombstones AS (
    INSERT INTO payload_tombstone (url, store_id, key, size)
    SELECT url, store_id, key, size FROM locations WHERE state <> 'missing'
    ON CONFLICT (store_id, key) DO UPDATE
        SET url = EXCLUDED.url, size = EXCLUDED.size, created_at = now(), lsn = NULL
    RETURNING size
), files AS (
    DELETE FROM nar_file f USING ready r WHERE f.url = r.url RETURNING f.url
)
SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM tombstones),
       (SELECT coalesce(sum(size), 0) FROM tombstones)::bigint;
