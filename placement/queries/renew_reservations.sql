-- Renews the reservations of holder $1, a running origin, so that they
-- keep counting.
UPDATE store_reservation SET renewed_at = now() WHERE holder = $1;
