-- Records a run's start; $1 says whether it is a dry run.
INSERT INTO gc_run (dry_run) VALUES ($1) RETURNING id, started_at;
