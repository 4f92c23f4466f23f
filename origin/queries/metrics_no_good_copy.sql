-- How many NAR files have a location but no good one, read when the
-- origin's metrics are scraped: their narinfos are out of service until a
-- good copy returns. Starts from the partial index of locations that are
-- not good (payload_location_not_good), so it reads only those and, for
-- each, the file's other locations by primary key.
SELECT count(DISTINCT l.url)
FROM payload_location l
WHERE l.state <> 'good'
  AND NOT EXISTS (SELECT 1 FROM payload_location g WHERE g.url = l.url AND g.state = 'good');
