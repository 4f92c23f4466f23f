-- Removes the roots expired by $1, the run's start (their paths go with
-- them by cascade), and names them. An expired root protects nothing, and
-- its root_path rows would stop its paths from being deleted.
DELETE FROM root WHERE expires_at <= $1::timestamptz RETURNING name;
