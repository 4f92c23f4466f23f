-- Revokes the unrevoked token named $1. Relies on UNIQUE (upload_token.name):
-- at most one row changes.
UPDATE upload_token SET revoked_at = now()
WHERE name = $1 AND revoked_at IS NULL;
