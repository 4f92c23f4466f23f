-- The NAR files a run found ready to retire, for this session only.
CREATE TEMPORARY TABLE IF NOT EXISTS gc_files (url text PRIMARY KEY);
