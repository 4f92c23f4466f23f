-- The text of narinfo $1 as clients get it: none while it is withdrawn (a
-- file it lists has no good copy a client can download).
SELECT body FROM narinfo WHERE hash = $1 AND NOT withdrawn;
