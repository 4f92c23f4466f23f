-- For a dry run: the locations of the files ready to retire now, with
-- each location's store and size.
SELECT g.url, s.name, coalesce(p.size, 0)
FROM gc_files g
LEFT JOIN payload_location p ON p.url = g.url AND p.state <> 'missing'
LEFT JOIN store s ON s.id = p.store_id
ORDER BY g.url, s.name;
