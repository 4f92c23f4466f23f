-- Claims batch $2 of edge $1. No row is inserted when the batch is there
-- already: it was committed before, and its counts with it.
INSERT INTO fetch_batch (edge, seq) VALUES ($1, $2) ON CONFLICT DO NOTHING;
