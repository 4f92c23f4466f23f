-- Each path's last use, as the roll-up would have kept it: the last day
-- it was hit.
INSERT INTO path_last_fetched (hash, last_fetched)
SELECT key, max(day) FROM fetch_daily WHERE kind = 'hit' GROUP BY key;
