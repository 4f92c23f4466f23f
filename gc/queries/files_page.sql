-- The next $2 files to retire after URL $1, in URL order.
SELECT url FROM gc_files WHERE url > $1::text ORDER BY url LIMIT $2;
