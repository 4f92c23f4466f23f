-- Drops the unused replication slots matching $1, the pattern of one edge's
-- slot names (sql.SlotPattern), and counts them.
-- A slot stays active until its walsender has exited.
SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots
WHERE slot_name ~ $1 AND database = current_database() AND NOT active;
