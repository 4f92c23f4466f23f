-- Edges whose slot is streaming now were seen now. An edge's replicator
-- registers it when it connects, and its heartbeat (package registry)
-- refreshes last_seen while it runs; garbage collection counts an edge's
-- absence from when it was last seen (gc's fence), so the origin's sweep
-- keeps this fresh too for the edges that stay connected without a
-- heartbeat. Writes only the rows of streaming edges.
UPDATE edge e SET last_seen = now()
FROM pg_replication_slots s
WHERE s.slot_name = e.slot_name AND s.active;
