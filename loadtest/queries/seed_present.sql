-- Whether the narinfo $1, the first path of a seed, exists (primary key
-- lookup).
SELECT EXISTS (SELECT FROM narinfo WHERE hash = $1);
