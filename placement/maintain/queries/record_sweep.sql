-- Records a sweep of store $1 that removed $2 files of $3 bytes (error
-- $4), as a job that is already finished.
INSERT INTO store_job (store_id, kind, total, done, bytes, error, finished_at)
VALUES ($1, 'sweep', $2, $2, $3, $4, now());
