-- Locks the NAR files $1 for deletion, in URL order, skipping the rows
-- someone holds now (a narinfo upload listing one holds KEY SHARE through
-- its foreign key, and so does a writer marking it told), which are left
-- for the next run.
SELECT url FROM nar_file WHERE url = ANY ($1::text[]) ORDER BY url FOR UPDATE SKIP LOCKED;
