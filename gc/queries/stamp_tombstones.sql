-- Gives the tombstones of retirements that committed the WAL position
-- now: past their commit records, so an edge that confirmed it has
-- applied their deletes. A run killed between a commit and this leaves
-- tombstones without one; the next run stamps them with a later, and as
-- safe, position.
UPDATE payload_tombstone SET lsn = pg_current_wal_insert_lsn() WHERE lsn IS NULL;
