-- Drops the unused replication slots of the edge named $1 and counts them.
-- A slot stays active until its walsender has exited.
SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots
WHERE slot_name ~ ('^narthex_' || $1 || '_[0-9a-z]{8}$') AND database = current_database() AND NOT active;
