-- The replication slots of the edge named $1 (pattern of replication's
-- slot names: narthex_<edge>_<8 of [0-9a-z]>) and whether each is in use.
SELECT slot_name, active FROM pg_replication_slots
WHERE slot_name ~ ('^narthex_' || $1 || '_[0-9a-z]{8}$') AND database = current_database();
