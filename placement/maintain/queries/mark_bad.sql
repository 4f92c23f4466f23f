-- Marks the good location of NAR file $1 in store $2 missing or corrupt
-- ($3). The triggers of payload_location withdraw the file's narinfos
-- when no good copy clients can download is left.
UPDATE payload_location SET state = $3, state_at = now()
WHERE url = $1 AND store_id = $2 AND state = 'good';
