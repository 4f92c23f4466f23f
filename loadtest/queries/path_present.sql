-- Whether the narinfo $1 exists (primary key lookup). Works on a native
-- subscriber too: the publication carries narinfo's hash.
SELECT EXISTS (SELECT FROM narinfo WHERE hash = $1);
