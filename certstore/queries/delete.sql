-- Deletes key $1 and, as a directory, every key below it ($2: the LIKE
-- pattern of $1 || '/', its wildcards escaped).
DELETE FROM cert_object WHERE key = $1 OR key LIKE $2;
