-- Renews the reservations of holder $1, a running maintenance pass, so
-- that they keep counting.
UPDATE store_reservation SET renewed_at = now() WHERE holder = $1;
