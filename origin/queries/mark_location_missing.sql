-- Marks the location of NAR file $1 in store $2 missing when the records
-- say it is good: the store was asked for the file and does not have it.
-- The triggers of payload_location take the file's narinfos out of service
-- when no good copy is left; the row returned tells how many are out.
WITH marked AS (
    UPDATE payload_location SET state = 'missing', state_at = now()
    WHERE url = $1 AND store_id = $2 AND state = 'good'
    RETURNING url
)
SELECT count(*) FROM marked;
