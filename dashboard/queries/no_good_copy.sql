-- How many NAR files have a location but no good one: their narinfos are
-- out of service until a good copy returns. Uses the partial index of
-- locations that are not good, then each file's locations by key.
SELECT count(DISTINCT l.url)
FROM payload_location l
WHERE l.state <> 'good'
  AND NOT EXISTS (SELECT 1 FROM payload_location g WHERE g.url = l.url AND g.state = 'good');
