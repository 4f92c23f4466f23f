-- For a dry run: the marked paths as store path base names.
SELECT n.hash || '-' || n.name FROM gc_garbage g JOIN narinfo n ON n.hash = g.hash ORDER BY g.created_at DESC, g.hash DESC;
