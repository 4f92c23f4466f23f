-- The narinfos out of service for want of a good copy of a file they list
-- (partial index narinfo_withdrawn).
SELECT count(*) FROM narinfo WHERE withdrawn;
