-- Extends holder $2's lease on lock $1 to now + $3; no row when the lock
-- is not its own any more.
UPDATE cert_lock SET expires_at = now() + $3::interval WHERE name = $1 AND holder = $2 RETURNING name;
