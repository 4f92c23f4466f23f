-- The number of narinfos (a sequential or index-only scan).
SELECT count(*) FROM narinfo;
