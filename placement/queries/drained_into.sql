-- The names of the stores that drain into the store $1; their drain_to
-- references it (the foreign key would refuse its deletion anyway, with a
-- message that names no store).
SELECT name FROM store WHERE drain_to = $1 ORDER BY name;
