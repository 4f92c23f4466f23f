-- The session holding advisory lock $1 in this database, and what it says
-- it is. A bigint advisory lock shows in pg_locks as classid (its high 32
-- bits), objid (its low 32 bits) and objsubid 1; advisory locks belong to
-- one database. No row when the holder let go meanwhile.
SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), ''), a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = ($1::bigint >> 32)::oid AND l.objid = ($1::bigint & 4294967295)::oid
LIMIT 1;
