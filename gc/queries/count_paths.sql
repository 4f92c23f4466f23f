-- How many narinfos there are: the mark reports live = this less garbage.
SELECT count(*) FROM narinfo;
