package origin

import (
	"testing"
	"time"
)

// Fetch counts past their retention go, batch by batch, with their rows;
// younger ones and every roll-up stay.
func TestServer_ExpiresOldFetchCounts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.FetchCountRetention = time.Hour })
	for seq, age := range []string{"3 hours", "2 hours", "1 minute"} {
		h.db.Exec(t.Context(), `INSERT INTO fetch_batch (edge, seq, flushed_at) VALUES ('eu', $1, now() - $2::interval)`, seq+1, age)
		if _, err := h.db.Exec(t.Context(), `INSERT INTO fetch_count (edge, seq, hour, kind, key, country, requests)
			VALUES ('eu', $1, date_trunc('hour', now()), 'miss', 'x', 'DE', 2)`, seq+1); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.srv.expireFetchCounts(t.Context()); err != nil {
		t.Fatal(err)
	}
	var batches, counts, daily int64
	if err := h.db.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM fetch_batch), (SELECT count(*) FROM fetch_count),
		(SELECT sum(requests) FROM fetch_daily)`).Scan(&batches, &counts, &daily); err != nil {
		t.Fatal(err)
	}
	if batches != 1 || counts != 1 || daily != 6 {
		t.Errorf("%d batches and %d counts left, %d requests rolled up; want 1, 1 and all 6", batches, counts, daily)
	}
}

// The sweep moves the windows of the busiest keys past the days they
// leave even when no batch comes to do it.
func TestServer_MovesFetchWindows(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	// As the windows stood yesterday: a week of them holds a day that
	// left it today.
	for _, q := range []string{
		`INSERT INTO fetch_daily (day, kind, key, requests) VALUES ((now() AT TIME ZONE 'UTC')::date - 7, 'hit', 'k', 5)`,
		`INSERT INTO fetch_window (days, kind, key, requests) VALUES (7, 'hit', 'k', 5), (30, 'hit', 'k', 5)`,
		`UPDATE fetch_window_state SET through = (now() AT TIME ZONE 'UTC')::date - 1`,
	} {
		if _, err := h.db.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.srv.expireFetchCounts(t.Context()); err != nil {
		t.Fatal(err)
	}
	var windows []int32
	var current bool
	if err := h.db.QueryRow(t.Context(), `SELECT array_agg(days ORDER BY days),
		(SELECT through = (now() AT TIME ZONE 'UTC')::date FROM fetch_window_state) FROM fetch_window`).Scan(&windows, &current); err != nil {
		t.Fatal(err)
	}
	if len(windows) != 1 || windows[0] != 30 || !current {
		t.Errorf("windows holding the day a week ago: %v, moved to today: %v; want only 30, true", windows, current)
	}
}
