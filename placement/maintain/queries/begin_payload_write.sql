-- Before a copy of NAR file $1 is written (or an object found there is
-- taken) under key $3 of store $2: marks the file told and drops any
-- tombstone of the key, waiting for a collection deleting its old bytes
-- now (sql/migrations/008_gc.sql).
SELECT payload_write_begin($1, $2, $3);
