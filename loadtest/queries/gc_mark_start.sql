-- Level 0 of a breadth-first mark: the seeds.
INSERT INTO gc_mark (hash, level) SELECT hash, 0 FROM gc_seed;
