package dashboard

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/narthex-cache/narthex/analytics"
)

func TestOverview_CountsByDay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	days, err := Overview(t.Context(), f.db, LastDays(f.now, 30), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 30 {
		t.Fatalf("%d days, want 30 (every day of the window)", len(days))
	}
	today, tenAgo := days[29], days[19]
	wantToday := Traffic{Requests: 14, Hits: 7, Misses: 3, Redirects: 4, Bytes: 4 * sizeA}
	if today.Day != f.now.Format(time.DateOnly) || today.Traffic != wantToday {
		t.Errorf("today = %+v, want %s %+v", today, f.now.Format(time.DateOnly), wantToday)
	}
	if today.HitRatio == nil || *today.HitRatio != 0.7 {
		t.Errorf("today's hit ratio = %v, want 0.7", today.HitRatio)
	}
	if want := (Traffic{Requests: 7, Hits: 7}); tenAgo.Traffic != want {
		t.Errorf("ten days ago = %+v, want %+v", tenAgo.Traffic, want)
	}
	if days[0].Traffic != (Traffic{}) || days[0].HitRatio != nil {
		t.Errorf("a day without requests = %+v, want zeros and no ratio", days[0])
	}
	if got := total(days); got.Traffic != (Traffic{Requests: 21, Hits: 14, Misses: 3, Redirects: 4, Bytes: 4 * sizeA}) {
		t.Errorf("total = %+v", got.Traffic)
	}
	// One edge, and a week that leaves out the day ten days ago.
	week, err := Overview(t.Context(), f.db, LastDays(f.now, 7), "sin")
	if err != nil {
		t.Fatal(err)
	}
	if got := total(week); got.Traffic != (Traffic{}) {
		t.Errorf("edge sin over a week = %+v, want nothing", got.Traffic)
	}
}

func TestEdges_HealthAndTraffic(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	edges, err := Edges(t.Context(), f.db, LastDays(f.now, 30))
	if err != nil {
		t.Fatal(err)
	}
	if len(edges) != 2 {
		t.Fatalf("edges = %+v, want fra and sin", edges)
	}
	fra, sin := edges[0], edges[1]
	if fra.Name != "fra" || !fra.Registered || fra.Region != "eu" || fra.Streaming || fra.LagBytes != nil {
		t.Errorf("fra = %+v, want registered in eu, not streaming, no slot", fra)
	}
	if fra.LastBatch == nil || *fra.LastBatch != 1 || fra.LastFlush == nil || fra.LastSeen == nil {
		t.Errorf("fra's flush state = batch %v at %v, seen %v; want batch 1", fra.LastBatch, fra.LastFlush, fra.LastSeen)
	}
	if want := (Traffic{Requests: 14, Hits: 7, Misses: 3, Redirects: 4, Bytes: 4 * sizeA}); fra.Traffic != want {
		t.Errorf("fra's traffic = %+v, want %+v", fra.Traffic, want)
	}
	if sin.Name != "sin" || sin.Registered || sin.Traffic != (Traffic{Requests: 7, Hits: 7}) {
		t.Errorf("sin = %+v, want unregistered with 7 hits", sin)
	}
}

func TestCountries_BusiestFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	got, err := Countries(t.Context(), f.db, LastDays(f.now, 30))
	if err != nil {
		t.Fatal(err)
	}
	want := []Country{
		{"DE", Traffic{Requests: 12, Hits: 5, Misses: 3, Redirects: 4, Bytes: 4 * sizeA}},
		{"FR", Traffic{Requests: 7, Hits: 7}},
		{"US", Traffic{Requests: 2, Hits: 2}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("countries (-want +got):\n%s", d)
	}
}

func TestTop_Windows(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	type row struct {
		Key      string
		Requests int64
		Name     string
	}
	top := func(kind Kind, days int) []row {
		keys, err := Top(t.Context(), f.db, kind, days, 10)
		if err != nil {
			t.Fatal(err)
		}
		var rows []row
		for _, k := range keys {
			rows = append(rows, row{k.Key, k.Requests, k.Name})
		}
		return rows
	}
	for _, c := range []struct {
		kind Kind
		days int
		want []row
	}{
		{KindHit, 1, []row{{hashA, 5, "hello-2.12"}, {hashB, 2, "curl-8.5.0"}}},
		{KindHit, 7, []row{{hashA, 5, "hello-2.12"}, {hashB, 2, "curl-8.5.0"}}},
		{KindHit, 30, []row{{hashB, 9, "curl-8.5.0"}, {hashA, 5, "hello-2.12"}}},
		{KindHit, 365, []row{{hashB, 9, "curl-8.5.0"}, {hashA, 5, "hello-2.12"}}},
		{KindMiss, 30, []row{{hashM, 3, ""}}},
	} {
		if d := cmp.Diff(c.want, top(c.kind, c.days)); d != "" {
			t.Errorf("top %s over %d days (-want +got):\n%s", c.kind, c.days, d)
		}
	}
	if _, err := Top(t.Context(), f.db, KindHit, 14, 10); err == nil {
		t.Error("a window of 14 days was accepted")
	}
}

// The windows moved over days with counts in them hold what fetch_daily
// says of each window: for every key, the sum of its days after the
// window's start.
func TestFetchWindowAdvance_MatchesDailySums(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Counts spread over days before the windows were last moved, as if
	// they had been moved the day each count came.
	today := f.now.Truncate(24 * time.Hour)
	for _, back := range []int{400, 366, 40, 31, 30, 8, 7, 6, 2, 1} {
		f.flush(t, "fra", []fetch{
			{analytics.Hit, hashA, "DE", today.AddDate(0, 0, -back), back},
			{analytics.Miss, hashM, "DE", today.AddDate(0, 0, -back), 1},
		})
	}
	expected := `SELECT w.days, d.kind, d.key, sum(d.requests)::bigint
		FROM fetch_daily d JOIN (VALUES (1), (7), (30), (365)) w (days) ON d.day > $1::date - w.days
		WHERE d.kind IN ('hit', 'miss') GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`
	windows := `SELECT days, kind, key, requests FROM fetch_window ORDER BY 1, 2, 3`
	for _, back := range []int{1, 5, 29, 364, 400} {
		then := today.AddDate(0, 0, -back)
		// The windows as they stood when last moved back days ago.
		f.exec(t, `DELETE FROM fetch_window`)
		f.exec(t, `INSERT INTO fetch_window (days, kind, key, requests) SELECT * FROM (`+expected+`) e`, then)
		f.exec(t, `UPDATE fetch_window_state SET through = $1`, then)
		f.exec(t, `SELECT fetch_window_advance()`)
		if got, want := f.rows(t, windows), f.rows(t, expected, today); !cmp.Equal(got, want) {
			t.Errorf("moved from %d days ago (-want +got):\n%s", back, cmp.Diff(want, got))
		}
	}
}

func TestNeverFetched_PathsWithoutUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u, err := NeverFetched(t.Context(), f.db, 10)
	if err != nil {
		t.Fatal(err)
	}
	if u.Count != 1 || u.About != 3 || len(u.Oldest) != 1 || u.Oldest[0].Hash != hashC || u.Oldest[0].Name != "unused-1.0" {
		t.Fatalf("never fetched = %+v, want c of 3", u)
	}
	// A path uploaded now is listed after c; a redirect to a file of c's
	// takes c off the list.
	f.exec(t, `INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ('0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d', 'new-1', 'sha256:d', 1, 'd')`)
	f.exec(t, `INSERT INTO nar_file (url, file_hash, file_size, compression) VALUES ('nar/cccc.nar', 'cccc', 1, 'none')`)
	f.exec(t, `INSERT INTO narinfo_file (narinfo_hash, url) VALUES ($1, 'nar/cccc.nar')`, hashC)
	f.flush(t, "fra", []fetch{{analytics.Redirect, "nar/cccc.nar", "DE", f.now, 1}})
	if u, err = NeverFetched(t.Context(), f.db, 10); err != nil {
		t.Fatal(err)
	}
	if u.Count != 1 || u.About != 4 || len(u.Oldest) != 1 || u.Oldest[0].Name != "new-1" {
		t.Errorf("never fetched = %+v, want only new-1 of 4", u)
	}
}

func TestClients_ByFamily(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	got, err := Clients(t.Context(), f.db, LastDays(f.now, 30))
	if err != nil {
		t.Fatal(err)
	}
	want := []Client{{"nix/2.8.0", 12}, {"guix", 7}, {"curl", 2}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("clients (-want +got):\n%s", d)
	}
}

func TestStores_UsageAndJobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u, err := Stores(t.Context(), f.db)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Stores) != 2 || u.NoGoodCopy != 0 {
		t.Fatalf("stores = %+v", u)
	}
	fra := u.Stores[0]
	if fra.Name != "frankfurt" || fra.Files != 1 || fra.Bytes != sizeA || fra.Max == nil || *fra.Max != 10485760 {
		t.Errorf("frankfurt = %+v, want one file of %d bytes, limit 10 MiB", fra, sizeA)
	}
	if j := fra.Job; j == nil || j.Kind != "populate" || j.Total != 10 || j.Done != 4 {
		t.Errorf("frankfurt's job = %+v, want populate 4 of 10", fra.Job)
	}
	if u.Stores[1].Job != nil {
		t.Errorf("origin's job = %+v, want none", u.Stores[1].Job)
	}
	f.exec(t, `UPDATE payload_location SET state = 'missing'`)
	if u, err = Stores(t.Context(), f.db); err != nil {
		t.Fatal(err)
	}
	if u.NoGoodCopy != 1 {
		t.Errorf("no good copy = %d after the only copy went missing, want 1", u.NoGoodCopy)
	}
}

// The collections panel lists real runs newest first, leaves dry runs
// out, and says what the fence holds now.
func TestGarbageCollections(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c, err := GarbageCollections(t.Context(), f.db, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Runs) != 0 || c.ObjectsFenced != 0 {
		t.Fatalf("before any run: %+v", c)
	}
	f.exec(t, `INSERT INTO gc_run (dry_run, phase, started_at, finished_at, live, garbage, paths_swept, files_retired, bytes_freed, error) VALUES
		(false, 'done', now() - interval '2 days', now() - interval '2 days', 10, 4, 4, 4, 4000, ''),
		(true, 'done', now() - interval '1 day', now() - interval '1 day', 10, 9, 9, 9, 9, ''),
		(false, 'sweep', now(), NULL, 12, 3, 1, 0, 0, '')`)
	f.exec(t, `INSERT INTO payload_tombstone (url, store_id, key, size) SELECT 'nar/x.nar', id, 'nar/x.nar', 70 FROM store LIMIT 1`)
	if c, err = GarbageCollections(t.Context(), f.db, 5); err != nil {
		t.Fatal(err)
	}
	if len(c.Runs) != 2 || c.Runs[0].Phase != "sweep" || c.Runs[0].FinishedAt != nil ||
		c.Runs[1].PathsSwept != 4 || c.Runs[1].BytesFreed != 4000 {
		t.Errorf("runs %+v, want the running one, then the one of two days ago", c.Runs)
	}
	if c.ObjectsFenced != 1 || c.BytesFenced != 70 {
		t.Errorf("fenced %d objects, %d bytes; want 1, 70", c.ObjectsFenced, c.BytesFenced)
	}
}

// rows reads every row of sql as strings.
func (f fixture) rows(t *testing.T, sql string, args ...any) [][]any {
	t.Helper()
	rows, err := f.db.Query(t.Context(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
