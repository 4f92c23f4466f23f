-- Before the bytes of NAR file $1 are written under key $3 of store $2:
-- marks the file told and drops any tombstone of the key, waiting for a
-- collection that is deleting the key's old bytes now, so that the new
-- bytes are never deleted by that older decision (sql/migrations/008_gc.sql).
SELECT payload_write_begin($1, $2, $3);
