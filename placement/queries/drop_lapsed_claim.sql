-- Removes a claim of URL $1 whose holder stopped renewing it $2 ago: it
-- died, and its write was never recorded.
DELETE FROM store_reservation WHERE url = $1 AND renewed_at < now() - $2::interval;
