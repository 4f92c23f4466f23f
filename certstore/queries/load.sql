-- The value at key $1.
SELECT value FROM cert_object WHERE key = $1;
