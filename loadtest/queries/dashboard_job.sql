-- A populate job running on store us, a third done.
INSERT INTO store_job (store_id, kind, total, done, bytes)
SELECT id, 'populate', 30000, 10000, 10000 * 33554432::bigint FROM store WHERE name = 'us';
