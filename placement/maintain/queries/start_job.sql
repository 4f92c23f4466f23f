-- Starts job $2 (populate, drain, evict, verify, sweep) of store $1 with
-- $3 items to do; returns its id and start time (the database's clock).
INSERT INTO store_job (store_id, kind, total) VALUES ($1, $2, $3)
RETURNING id, started_at;
