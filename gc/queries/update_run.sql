-- Records how far run $1 has come.
UPDATE gc_run SET phase = $2, updated_at = now(), roots_expired = $3, live = $4, garbage = $5,
    paths_swept = $6, paths_kept = $7, files_retired = $8, objects_freed = $9, bytes_freed = $10,
    objects_fenced = $11, bytes_fenced = $12, mark_seconds = $13, sweep_seconds = $14, error = $15,
    finished_at = CASE WHEN $16 THEN now() END
WHERE id = $1;
