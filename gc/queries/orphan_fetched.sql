-- Last-fetched rows of paths that are not there: counted by an edge after
-- the path was deleted, or for a path never uploaded.
DELETE FROM path_last_fetched f WHERE NOT EXISTS (SELECT FROM narinfo n WHERE n.hash = f.hash);
