-- Which of the paths $1 are still there after their batch.
SELECT hash FROM narinfo WHERE hash = ANY ($1::text[]);
