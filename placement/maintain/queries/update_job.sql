-- Records the progress of job $1.
UPDATE store_job SET total = $2, done = $3, bytes = $4, failed = $5, error = $6, updated_at = now()
WHERE id = $1;
