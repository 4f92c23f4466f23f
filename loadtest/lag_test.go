package loadtest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/loadtest"
)

// dbEdge answers narinfo lookups straight from the origin database: an
// edge without lag.
func dbEdge(t *testing.T, url string) string {
	t.Helper()
	db, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body string
		hash := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), ".narinfo")
		if err := db.QueryRow(r.Context(), "SELECT body FROM narinfo WHERE hash = $1", hash).Scan(&body); err != nil {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestLag(t *testing.T) {
	for _, conns := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d connections", conns), func(t *testing.T) { testLag(t, conns) })
	}
}

func testLag(t *testing.T, conns int) {
	url := pgtest.NewOriginDatabase(t)
	edge := dbEdge(t, url)
	// 100 commits due at 200/s, over 0.5 s. The schedule may overrun by up
	// to a minute (Duration) before a late commit is dropped, and the
	// targets may take a minute (Grace) to show one, so that a machine many
	// times slower than usual still makes and measures every commit: what
	// is checked is that each one is made, seen and counted, not that the
	// schedule was kept in wall time.
	const commits = 100
	res, err := loadtest.Lag(t.Context(), loadtest.LagConfig{
		DatabaseURL: url, Edges: []string{edge}, SubscriberURL: url, Connections: conns,
		Rate: 200, Commits: commits, Duration: time.Minute, Grace: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Scheduled != commits || res.Commits != commits || res.Connections != conns || res.ProbeInterval != loadtest.DefaultProbeInterval {
		t.Errorf("%d of %d scheduled commits made over %d connections, probe interval %v; want all %d over %d, %v",
			res.Commits, res.Scheduled, res.Connections, res.ProbeInterval, commits, conns, loadtest.DefaultProbeInterval)
	}
	if res.CommitLatency.Count != res.Commits {
		t.Errorf("commit latency of %d commits, want %d", res.CommitLatency.Count, res.Commits)
	}
	if len(res.Targets) != 2 {
		t.Fatalf("%d targets, want 2", len(res.Targets))
	}
	for _, tg := range res.Targets {
		if tg.Seen != res.Commits || tg.NeverSeen != 0 || tg.ProbeErrors != 0 || tg.Lag.Count != res.Commits {
			t.Errorf("%s: %+v", tg.Target, tg)
		}
		// The origin itself shows each commit at once: its lag is a probe's
		// round trip, milliseconds even on a loaded machine, never seconds.
		if tg.Lag.P99 > 5*time.Second {
			t.Errorf("%s: p99 lag %v from the origin database itself", tg.Target, tg.Lag.P99)
		}
	}
	var n int
	if err := pgtest.Connect(t, url).QueryRow(t.Context(), "SELECT count(*) FROM narinfo JOIN narinfo_file ON narinfo_hash = hash").Scan(&n); err != nil || n != commits {
		t.Errorf("%d narinfos with their files in the origin (%v), want %d", n, err, commits)
	}
}

func TestLag_NeverSeen(t *testing.T) {
	url := pgtest.NewOriginDatabase(t)
	// An edge that never has anything.
	ts := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(ts.Close)
	const interval = 5 * time.Millisecond
	start := time.Now()
	res, err := loadtest.Lag(t.Context(), loadtest.LagConfig{
		DatabaseURL: url, Edges: []string{ts.URL}, Rate: 100, Duration: 200 * time.Millisecond, Grace: 100 * time.Millisecond,
		ProbeInterval: interval,
	})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	tg := res.Targets[0]
	if tg.NeverSeen != res.Commits || tg.Seen != 0 {
		t.Errorf("an edge that shows nothing: %+v", tg)
	}
	// The poller kept probing, but at most once per interval. How many
	// probes fit in the run depends on the machine's speed, so only the
	// limit is exact.
	if limit := int64(took/interval) + 1; tg.Probes > limit || tg.Probes < 2 {
		t.Errorf("%d probes in %v, want more than one and at most one per %v", tg.Probes, took, interval)
	}
}
