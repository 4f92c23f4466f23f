-- Moves the windows of the busiest keys up to today (UTC) when no batch
-- of counts has since midnight, so that an idle cache's windows do not
-- keep a day they have left. Nothing to do most of the time: the function
-- returns at once when they are current.
SELECT fetch_window_advance();
