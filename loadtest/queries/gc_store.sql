-- The origin's local store ("local", as the origin registers it) that
-- holds every NAR file of the collection benchmark's graph; $1 is its
-- download base URL until an origin sets its own.
INSERT INTO store (name, kind, base_url) VALUES ('local', 'local', $1);
