-- For a dry run: the NAR files the marked paths alone list, which would
-- lose their last narinfo, with each location's store and size.
SELECT l.url, s.name, coalesce(p.size, 0)
FROM (SELECT DISTINCT f.url FROM narinfo_file f JOIN gc_garbage g ON g.hash = f.narinfo_hash
      WHERE NOT EXISTS (SELECT FROM narinfo_file o
                        WHERE o.url = f.url AND NOT EXISTS (SELECT FROM gc_garbage h WHERE h.hash = o.narinfo_hash))) l
LEFT JOIN payload_location p ON p.url = l.url AND p.state <> 'missing'
LEFT JOIN store s ON s.id = p.store_id
ORDER BY l.url, s.name;
