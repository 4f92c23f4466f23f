-- Takes lock $1 for holder $2 until now + $3 when it is free or its lease
-- has lapsed (its holder stopped renewing: a node that died); returns a
-- row when taken. The primary key settles two nodes trying at once.
INSERT INTO cert_lock (name, holder, expires_at) VALUES ($1, $2, now() + $3::interval)
ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
WHERE cert_lock.expires_at < now()
RETURNING holder;
