-- The hashes and names among the narinfos with hashes $1 (primary key
-- lookups). Takes no lock: the foreign key from reference catches a path
-- deleted before the insert.
SELECT hash, name
FROM narinfo
WHERE hash = ANY ($1::text[]);
