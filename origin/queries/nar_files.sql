-- The NAR files among the URLs $1 (primary key lookups). Takes no lock: the
-- foreign key from narinfo_file catches a file deleted before the insert.
SELECT url, file_hash, file_size, compression, nar_hash, nar_size
FROM nar_file
WHERE url = ANY ($1::text[]);
