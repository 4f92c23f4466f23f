-- Records a new store. A store of that name already there breaks
-- UNIQUE (store.name) with 23505, which Add reports as ErrStoreExists;
-- the CHECK constraints of 002_store_policy.sql repeat Store.Validate's
-- rules, so a row that slipped past it is refused here too. $11, the drain
-- target's id, was read by store_id.sql in the same transaction.
INSERT INTO store (name, kind, base_url, region, latitude, longitude,
                   upload_priority, download_priority, populate, drain, drain_to,
                   read_only, write_only, soft_max_size, max_size, settings)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::text::jsonb)
RETURNING id, created_at;
