-- Removes the root named $1; its paths go with it (ON DELETE CASCADE) and
-- are collectable from the next collection on, unless something else
-- keeps them. Relies on the primary key root.name: at most one row goes.
DELETE FROM root WHERE name = $1;
