-- The stored text of the narinfo with hash $1 (primary key lookup).
SELECT body FROM narinfo WHERE hash = $1;
