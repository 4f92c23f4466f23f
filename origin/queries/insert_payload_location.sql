-- Records that store $2 holds NAR file $1 under key $3. Relies on the primary
-- key (url, store_id): a re-upload keeps the existing row.
INSERT INTO payload_location (url, store_id, key)
VALUES ($1, $2, $3)
ON CONFLICT (url, store_id) DO NOTHING;
