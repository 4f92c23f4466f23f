-- The size and time of key $1.
SELECT length(value), modified FROM cert_object WHERE key = $1;
