-- Of the objects found in store $1 (their URLs $2: their keys escaped as
-- narinfo.EscapeKey escapes them), those no good location of the store records:
-- what a pass killed between writing and recording left. Primary key
-- (url, store_id) lookups.
SELECT k FROM unnest($2::text[]) AS k
WHERE NOT EXISTS (
    SELECT FROM payload_location l WHERE l.url = k AND l.store_id = $1 AND l.state = 'good'
);
