-- The recorded hash of NAR file $1 (a primary key lookup), if any.
SELECT file_hash FROM nar_file WHERE url = $1;
