-- The NAR files whose locations can go now, into gc_files: no narinfo
-- lists them, they were written before $1 (an upload's narinfo follows
-- its NAR), no uploader was told they are there or wrote them again after
-- $1, no upload holds a claim on their URL, and those that lost their last
-- narinfo to collection lost it before $2 (the payload grace). One anti-
-- join of nar_file against the listings; each batch checks again under
-- its locks.
INSERT INTO gc_files (url)
SELECT f.url FROM nar_file f
WHERE f.created_at < $1::timestamptz
  AND NOT EXISTS (SELECT FROM narinfo_file l WHERE l.url = f.url)
  AND NOT EXISTS (SELECT FROM nar_file_told t WHERE t.url = f.url AND t.told_at >= $1::timestamptz)
  AND NOT EXISTS (SELECT FROM nar_file_unlisted u WHERE u.url = f.url AND u.unlisted_at >= $2::timestamptz)
  AND NOT EXISTS (SELECT FROM store_reservation r WHERE r.url = f.url);
