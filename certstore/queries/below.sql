-- The keys matching LIKE pattern $1 (a directory's: its name, wildcards
-- escaped, and '/%'; '%' for every key), with their sizes and times, by
-- the prefix index.
SELECT key, length(value), modified FROM cert_object WHERE key LIKE $1 ORDER BY key;
