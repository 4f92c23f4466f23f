-- How many narinfos listing NAR file $1 are withdrawn.
SELECT count(*) FROM narinfo_file f JOIN narinfo n ON n.hash = f.narinfo_hash
WHERE f.url = $1 AND n.withdrawn;
