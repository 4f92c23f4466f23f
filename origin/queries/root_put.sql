-- Creates the root named $1 with the expiry $2 (NULL: none), or sets the
-- expiry of the existing one. Relies on the primary key root.name: the
-- conflicting row is locked until the transaction ends, so a concurrent
-- replacement of the same root waits here, and the statements after this
-- one (each with a snapshot of its own) see what it committed.
INSERT INTO root (name, expires_at)
VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET expires_at = EXCLUDED.expires_at, updated_at = now();
