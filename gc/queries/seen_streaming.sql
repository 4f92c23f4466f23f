-- Edges whose slot is streaming now were seen now: an edge only registers
-- itself when it connects, and the fence counts an edge's absence from
-- when it was last seen.
UPDATE edge e SET last_seen = now()
FROM pg_replication_slots s
WHERE s.slot_name = e.slot_name AND s.active;
