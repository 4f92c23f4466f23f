-- Creates the upload token $1 with digest $2, or replaces a revoked token of
-- that name. Relies on UNIQUE (upload_token.name) for the conflict target; no
-- row comes back when an unrevoked token has the name.
INSERT INTO upload_token (name, token_sha256)
VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE
    SET token_sha256 = EXCLUDED.token_sha256, created_at = now(), revoked_at = NULL
WHERE upload_token.revoked_at IS NOT NULL
RETURNING id;
