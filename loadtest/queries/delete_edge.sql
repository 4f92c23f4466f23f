-- Forgets the edge named $1 (primary key).
DELETE FROM edge WHERE name = $1;
