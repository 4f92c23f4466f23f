-- Lets go of lock $1 if holder $2 holds it.
DELETE FROM cert_lock WHERE name = $1 AND holder = $2;
