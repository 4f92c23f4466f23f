-- The replication slots matching $1, the pattern of one edge's slot names
-- (sql.SlotPattern), and whether each is in use.
SELECT slot_name, active FROM pg_replication_slots
WHERE slot_name ~ $1 AND database = current_database();
