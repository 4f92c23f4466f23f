-- The URLs among $2 whose bytes store $1 is recorded to hold (primary key
-- lookups on payload_location), and those whose bytes garbage collection
-- is to delete (payload_tombstone's unique key): neither is a crash's
-- leftover to record again. Takes no lock: recording again is harmless,
-- as record_nar_file keeps existing rows.
SELECT url FROM payload_location
WHERE store_id = $1 AND url = ANY ($2::text[])
UNION ALL
SELECT key FROM payload_tombstone
WHERE store_id = $1 AND key = ANY ($2::text[]);
