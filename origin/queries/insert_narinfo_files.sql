-- Links narinfo $1 to the NAR files $2. The foreign key to nar_file takes a
-- KEY SHARE lock on each file row, so a concurrent delete of a file waits
-- for this transaction or makes this insert fail with SQLSTATE 23503.
INSERT INTO narinfo_file (narinfo_hash, url)
SELECT $1, url FROM unnest($2::text[]) AS url;
