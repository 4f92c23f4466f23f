-- Collected payloads whose bytes wait for the edges, now.
SELECT count(*), coalesce(sum(size), 0)::bigint FROM payload_tombstone;
