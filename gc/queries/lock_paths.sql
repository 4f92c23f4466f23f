-- Locks the narinfos $1 for deletion, in hash order so that two lockers
-- never wait on each other in a cycle, skipping the rows someone holds
-- now: an upload referring to one (its foreign key check holds KEY SHARE
-- until it commits), a root naming one, or the origin telling an uploader
-- one is present. Those are left for the next run. From here to the end
-- of the transaction, whoever comes to refer to one of these rows waits,
-- and then finds it gone or kept.
SELECT hash FROM narinfo WHERE hash = ANY ($1::text[]) ORDER BY hash FOR UPDATE SKIP LOCKED;
