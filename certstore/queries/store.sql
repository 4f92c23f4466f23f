-- Stores value $2 at key $1, replacing what is there.
INSERT INTO cert_object (key, value, modified) VALUES ($1, $2, now())
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, modified = EXCLUDED.modified;
