-- Edges whose slot is streaming now were seen now. An edge registers
-- itself only when it connects; garbage collection counts an edge's
-- absence from when it was last seen (gc's fence), so the origin's sweep
-- keeps this fresh for the edges that stay connected. Writes only the
-- rows of streaming edges.
UPDATE edge e SET last_seen = now()
FROM pg_replication_slots s
WHERE s.slot_name = e.slot_name AND s.active;
