-- Writes every changeable column of the store $1, which lock_store.sql
-- locked in this transaction. Name and kind never change.
UPDATE store SET
    base_url = $2, region = $3, latitude = $4, longitude = $5,
    upload_priority = $6, download_priority = $7, populate = $8, drain = $9, drain_to = $10,
    read_only = $11, write_only = $12, soft_max_size = $13, max_size = $14, settings = $15::text::jsonb
WHERE id = $1;
