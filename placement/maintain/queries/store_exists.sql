-- Whether a store named $1 exists (UNIQUE (store.name)).
SELECT EXISTS (SELECT FROM store WHERE name = $1);
