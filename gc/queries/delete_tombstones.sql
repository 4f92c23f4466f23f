-- Tombstones $1, whose bytes are deleted.
DELETE FROM payload_tombstone WHERE id = ANY ($1::bigint[]);
