-- Finds the unrevoked token whose SHA-256 is $1. Relies on the unique index
-- on upload_token.token_sha256.
SELECT name FROM upload_token
WHERE token_sha256 = $1 AND revoked_at IS NULL;
