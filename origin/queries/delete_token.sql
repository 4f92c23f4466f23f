-- Deletes the token named $1, revoked or not, so that ReplaceToken can
-- create it anew in the same transaction. Relies on UNIQUE
-- (upload_token.name): at most one row goes.
DELETE FROM upload_token WHERE name = $1;
