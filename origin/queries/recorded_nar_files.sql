-- The URLs among $2 whose bytes store $1 is recorded to hold (primary key
-- lookups on payload_location). Takes no lock: recording again is
-- harmless, as record_nar_file keeps existing rows.
SELECT url FROM payload_location
WHERE store_id = $1 AND url = ANY ($2::text[]);
