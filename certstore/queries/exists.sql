-- Whether key $1 exists as a key or as a directory of keys ($2 as in
-- delete.sql).
SELECT EXISTS (SELECT FROM cert_object WHERE key = $1 OR key LIKE $2);
