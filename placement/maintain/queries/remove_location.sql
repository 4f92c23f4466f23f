-- Removes the location of NAR file $1 in store $2 and returns its key,
-- when that loses nothing: the location is not good, or another good copy
-- remains in a store clients download from (not write_only), or, when
-- store $2 is itself write_only, anywhere. No row otherwise: the last
-- good copy is never removed, and neither is the last one clients can
-- download. It runs after lock_nar_file.sql in the same transaction, as a
-- statement of its own, so that its snapshot sees every removal committed
-- before: two removals cannot each count on the other's copy.
DELETE FROM payload_location l
WHERE l.url = $1 AND l.store_id = $2
  AND (l.state <> 'good' OR EXISTS (
      SELECT FROM payload_location o JOIN store s ON s.id = o.store_id
      WHERE o.url = $1 AND o.store_id <> $2 AND o.state = 'good'
        AND (NOT s.write_only OR (SELECT write_only FROM store WHERE id = $2))))
RETURNING l.key;
