-- The statements that let role $1 do what an edge does and nothing else,
-- in order, built here so that every name is quoted by format's %I:
-- connect and replicate (the role is made with LOGIN REPLICATION first);
-- read the columns the publication carries, which a bootstrap copies (read
-- from pg_publication_tables, so that running these again after a
-- migration grants the columns it added); register itself in edge; and
-- write fetch counts, reading back its own last batch; and keep the
-- certificates and locks every node shares (certstore). Nothing else: no
-- narinfo, token, reference or location can be written, and the tables the
-- publication leaves out (upload_token among them) cannot be read.
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), $1::text)
UNION ALL
SELECT format('GRANT USAGE ON SCHEMA public TO %I', $1::text)
UNION ALL
SELECT format('GRANT SELECT (%s) ON %I.%I TO %I',
    (SELECT string_agg(quote_ident(a), ', ') FROM unnest(t.attnames) AS a), t.schemaname, t.tablename, $1::text)
FROM pg_publication_tables t WHERE t.pubname = $2::text
UNION ALL
SELECT format('GRANT SELECT, INSERT, UPDATE ON edge TO %I', $1::text)
UNION ALL
SELECT format('GRANT SELECT, INSERT ON fetch_batch TO %I', $1::text)
UNION ALL
SELECT format('GRANT INSERT ON fetch_count TO %I', $1::text)
UNION ALL
SELECT format('GRANT SELECT, INSERT, UPDATE, DELETE ON cert_object, cert_lock TO %I', $1::text);
