-- Records an uploaded NAR file. Its URL names its hash, so an existing row
-- for the URL describes the same bytes and is kept (primary key conflict).
INSERT INTO nar_file (url, file_hash, file_size, compression)
VALUES ($1, $2, $3, $4)
ON CONFLICT (url) DO NOTHING;
