-- The last day the windows of fetch_window end on.
SELECT through FROM fetch_window_state;
