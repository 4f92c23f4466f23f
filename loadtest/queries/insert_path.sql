-- Inserts one path without references, with its NAR file, as one
-- statement and so one transaction: the foreign keys of narinfo_file are
-- checked at the end of the statement, when the other two rows are in.
WITH file AS (
    INSERT INTO nar_file (url, file_hash, file_size, compression)
    VALUES ($1, $2, $3, $4)
), info AS (
    INSERT INTO narinfo (hash, name, nar_hash, nar_size, deriver, sigs, body)
    VALUES ($5, $6, $7, $8, $9, $10, $11)
)
INSERT INTO narinfo_file (narinfo_hash, url) VALUES ($5, $1);
