-- The mark table of gc_mark_temp.sql as an unlogged table, in shared
-- buffers rather than the session's temp_buffers. Created in the mark's
-- transaction, so that its rollback drops it.
CREATE UNLOGGED TABLE gc_mark (hash text PRIMARY KEY, level integer NOT NULL);
CREATE INDEX ON gc_mark (level);
