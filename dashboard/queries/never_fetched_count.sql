-- How many paths no edge has counted a use of, of how many: a count of
-- path_unfetched's key and one of narinfo's.
SELECT (SELECT count(*) FROM path_unfetched), (SELECT count(*) FROM narinfo);
