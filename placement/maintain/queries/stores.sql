-- Every store with its policy and the bytes it holds by the records
-- (store_usage, kept by trigger), by id so that a pass visits them in a
-- stable order.
SELECT s.id, s.name, s.kind, s.base_url, s.settings::text, s.populate, s.drain, s.drain_to,
       s.read_only, s.write_only, s.soft_max_size, s.max_size, s.upload_priority,
       coalesce(u.bytes, 0)
FROM store s LEFT JOIN store_usage u ON u.store_id = s.id
ORDER BY s.id;
