-- The next $2 tombstones past the fence $1 (NULL: no edge holds one),
-- oldest first, with their stores and whether a location records the key
-- again (primary key lookup), locked for this transaction, leaving out
-- the stores $3 that failed in this run. A writer about to write one of
-- these keys waits for it (payload_write_begin); rows a writer holds now
-- are skipped.
SELECT t.id, t.key, t.size, s.id, s.name, s.kind, s.base_url, s.settings::text,
       EXISTS (SELECT FROM payload_location l WHERE l.url = t.url AND l.store_id = t.store_id AND l.key = t.key)
FROM payload_tombstone t JOIN store s ON s.id = t.store_id
WHERE t.lsn IS NOT NULL AND ($1::pg_lsn IS NULL OR t.lsn <= $1::pg_lsn)
  AND t.store_id <> ALL ($3::integer[])
ORDER BY t.lsn, t.id
LIMIT $2
FOR UPDATE OF t SKIP LOCKED;
