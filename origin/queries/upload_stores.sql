-- The stores an upload may land in, best first: of a kind that takes
-- writes, neither read_only nor write_only (an upload must be downloadable
-- at once) nor draining; by upload priority, highest first and unset last,
-- then by id so that the order is stable. max_size is NULL for no limit.
SELECT id, name, kind, base_url, settings::text, max_size
FROM store
WHERE kind IN ('local', 's3') AND NOT read_only AND NOT write_only AND NOT drain
ORDER BY upload_priority DESC NULLS LAST, id;
