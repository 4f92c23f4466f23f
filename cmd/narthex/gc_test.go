package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/gc"
	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/origin"
)

// gcCache is an origin process on a database of its own, with an upload
// token, for collections to run against.
type gcCache struct {
	t     *testing.T
	dbURL string
	db    *pgxpool.Pool
	base  string // the origin's URL
	store string // its local store
	token string
}

func newGCCache(t *testing.T) *gcCache {
	t.Helper()
	c := &gcCache{t: t, dbURL: pgtest.NewOriginDatabase(t), store: tempDir(t)}
	var err error
	if c.db, err = pgxpool.New(t.Context(), c.dbURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.db.Close)
	if c.token, err = origin.CreateToken(t.Context(), c.db, "uploader"); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1))
	c.base = "http://" + addr
	p := startNarthex(t, "origin", "--listen", addr, "--database-url", c.dbURL, "--local-store", c.store,
		"--maintain-interval", "0", "--sweep-interval", "1s", "--max-conns-per-client", "1000")
	p.waitLog(t, "origin listening", time.Minute)
	return c
}

// age makes the paths hashes, and the NAR files they list, two days old:
// past any grace period the tests use.
func (c *gcCache) age(hashes ...string) {
	c.t.Helper()
	c.exec(`UPDATE narinfo SET created_at = now() - interval '2 days' WHERE hash = ANY ($1)`, hashes)
	c.exec(`UPDATE nar_file f SET created_at = now() - interval '2 days' FROM narinfo_file l
		WHERE l.url = f.url AND l.narinfo_hash = ANY ($1)`, hashes)
	c.exec(`DELETE FROM nar_file_told t USING narinfo_file l WHERE l.url = t.url AND l.narinfo_hash = ANY ($1)`, hashes)
}

func (c *gcCache) exec(sql string, args ...any) {
	c.t.Helper()
	if _, err := c.db.Exec(c.t.Context(), sql, args...); err != nil {
		c.t.Fatalf("%s: %v", sql, err)
	}
}

func (c *gcCache) count(sql string, args ...any) int64 {
	c.t.Helper()
	var n int64
	if err := c.db.QueryRow(c.t.Context(), sql, args...).Scan(&n); err != nil {
		c.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// collector is a collector of the cache with a grace of an hour and no
// payload grace.
func (c *gcCache) collector(cfg gc.Config) *gc.Collector {
	c.t.Helper()
	cfg.DB = c.db
	if cfg.Grace == 0 {
		cfg.Grace = time.Hour
	}
	if cfg.PayloadGrace == 0 {
		cfg.PayloadGrace = time.Nanosecond
	}
	open := openMaintainedStore(c.store)
	cfg.Open = func(ctx context.Context, kind string, settings []byte, baseURL string) (gc.Store, error) {
		return open(ctx, kind, settings, baseURL)
	}
	col, err := gc.New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	return col
}

func (c *gcCache) get(path string, authenticated bool) int {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(c.t.Context(), http.MethodGet, c.base+"/"+path, nil)
	if authenticated {
		req.SetBasicAuth("nix", c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// integrity is the whole graph's check: references to missing paths,
// rooted paths missing, listed files without a location. The foreign keys
// make each impossible.
func (c *gcCache) integrity(ctx context.Context, db *pgxpool.Pool) error {
	var dangling, rooted, unplaced int64
	err := db.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM reference r WHERE NOT EXISTS (SELECT FROM narinfo n WHERE n.hash = r.reference)),
		(SELECT count(*) FROM root_path p WHERE NOT EXISTS (SELECT FROM narinfo n WHERE n.hash = p.narinfo_hash)),
		(SELECT count(*) FROM narinfo_file l WHERE NOT EXISTS (SELECT FROM payload_location p WHERE p.url = l.url))`).
		Scan(&dangling, &rooted, &unplaced)
	if err != nil {
		return err
	}
	if dangling+rooted+unplaced != 0 {
		return fmt.Errorf("%d dangling references, %d rooted paths missing, %d listed files without a location", dangling, rooted, unplaced)
	}
	return nil
}

// A bad setting of narthex gc is reported by its flag before anything is
// touched.
func TestGC_FlagErrorsNameTheFlag(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ flag, value, want string }{
		{"--grace", "-1h", "--grace -1h0m0s must not be negative"},
		{"--edge-timeout", "-1s", "--edge-timeout -1s must not be negative"},
		{"--batch-size", "-3", "--batch-size -3 must be at least 1"},
		{"--keep-fetched-days", "-1", "--keep-fetched-days -1 must not be negative"},
	} {
		cmd := exec.Command(os.Args[0], "gc", "--database-url", "postgres://127.0.0.1:1/none", tt.flag, tt.value)
		cmd.Env = append(os.Environ(), "NARTHEX_TEST_AS_MAIN=1")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("narthex gc %s %s = %v:\n%s\nwant an error with %q", tt.flag, tt.value, err, out, tt.want)
		}
	}
}

// An uploader told a path is present uploads paths that refer to it: a
// collection that starts between the answer and that upload keeps the
// path. An anonymous reader's answer promises nothing.
func TestGC_PathToldPresentSurvivesUntilItsReferrerIsUploaded(t *testing.T) {
	t.Parallel()
	c := newGCCache(t)
	told, _, _ := uploadPath(t, c.base, c.token, []byte("told"))
	anon, anonKey, _ := uploadPath(t, c.base, c.token, []byte("anonymous"))
	c.age(told, anon)
	c.exec(`DELETE FROM narinfo_told`)

	// nix copy asks with its netrc credentials.
	if s := c.get(told+".narinfo", true); s != 200 {
		t.Fatalf("authenticated GET = %d", s)
	}
	if s := c.get(anon+".narinfo", false); s != 200 {
		t.Fatalf("anonymous GET = %d", s)
	}
	// A dry run lists what would go and changes nothing.
	dry := startNarthex(t, "gc", "--dry-run", "--database-url", c.dbURL, "--local-store", c.store, "--grace", "1h")
	if code := dry.waitExit(t, time.Minute); code != 0 {
		t.Fatalf("narthex gc --dry-run exited %d:\n%s", code, dry.logs())
	}
	dry.mu.Lock()
	out := strings.Join(dry.stdout, "\n")
	dry.mu.Unlock()
	if !strings.Contains(out, "path "+anon+"-p") || strings.Contains(out, told) ||
		!strings.Contains(out, "file "+anonKey+" local ") || !strings.Contains(out, "would delete 1 paths") {
		t.Errorf("dry run printed:\n%s\nwant the anonymous path and its file, and not the told one", out)
	}
	if n := c.count(`SELECT count(*) FROM narinfo WHERE hash = $1`, anon); n != 1 {
		t.Fatal("the dry run deleted the path")
	}
	rep, err := c.collector(gc.Config{}).Run(t.Context(), gc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PathsSwept != 1 {
		t.Errorf("swept %d paths, want only the one told to nobody", rep.PathsSwept)
	}
	if s := c.get(anon+".narinfo", false); s != 404 {
		t.Errorf("the path told to nobody: %d, want 404 after collection", s)
	}
	if s := c.get(anonKey, false); s != 404 {
		t.Errorf("its NAR file: %d, want 404 after collection (no edge holds the fence)", s)
	}
	// The referrer's upload, after the collection, finds its reference.
	uploadPath(t, c.base, c.token, []byte("referrer"), told)
}

// Collections race uploaders: 60 of them upload paths referring to
// random paths, live and garbage, while a collector sweeps in small
// batches. After every batch, and at the end, the graph is whole: no
// reference to a missing path, no rooted path missing. An upload is
// either accepted (and stays, with its closure) or refused with a 400
// naming the reference that went.
func TestGC_RacesConcurrentUploaders(t *testing.T) {
	t.Parallel()
	c := newGCCache(t)
	var live, garbage []string
	for i := range 40 {
		h, _, _ := uploadPath(t, c.base, c.token, fmt.Appendf(nil, "live %d", i), pick(live, 3)...)
		live = append(live, h)
	}
	for i := range 120 {
		refs := append(pick(garbage, 2), pick(live, 1)...)
		h, _, _ := uploadPath(t, c.base, c.token, fmt.Appendf(nil, "garbage %d", i), refs...)
		garbage = append(garbage, h)
	}
	c.age(append(live, garbage...)...)
	// A root on the newest live paths keeps the rest of them, and
	// garbage on top of live paths is still garbage.
	c.exec(`INSERT INTO root (name) VALUES ('release')`)
	c.exec(`INSERT INTO root_path (root, narinfo_hash) SELECT 'release', unnest($1::text[])`, live[len(live)-5:])
	c.exec(`DELETE FROM narinfo_told`)
	rooted := c.count(`WITH RECURSIVE l(hash) AS (SELECT narinfo_hash FROM root_path UNION SELECT r.reference FROM reference r JOIN l ON r.referrer = l.hash) SELECT count(*) FROM l`)

	var (
		mu       sync.Mutex
		accepted []string
		refused  atomic.Int64
		checks   atomic.Int64
		failures []string
	)
	fail := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, s)
	}
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for u := range 60 {
		wg.Go(func() {
			for i := 0; i < 8 && ctx.Err() == nil; i++ {
				refs := []string{garbage[rand.IntN(len(garbage))], live[rand.IntN(len(live))]}
				h, _, _, status, body := tryUploadPath(t, c.base, c.token, fmt.Appendf(nil, "upload %d %d", u, i), refs...)
				switch {
				case status == 200:
					mu.Lock()
					accepted = append(accepted, h)
					mu.Unlock()
				case status == 400 && (strings.Contains(body, "which this narinfo references, was deleted during the upload") ||
					strings.Contains(body, "is not in the cache")):
					refused.Add(1)
				default:
					fail(fmt.Sprintf("upload answered %d %s", status, body))
				}
			}
		})
	}
	col := c.collector(gc.Config{BatchSize: 4, Progress: func(p gc.Progress) {
		if p.Phase != "sweep" {
			return
		}
		checks.Add(1)
		if err := c.integrity(t.Context(), c.db); err != nil {
			fail("after a sweep batch: " + err.Error())
		}
	}})
	var rep gc.Report
	for i := 0; i < 3; i++ {
		r, err := col.Run(t.Context(), gc.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rep.PathsSwept += r.PathsSwept
	}
	stop()
	wg.Wait()
	if err := c.integrity(t.Context(), c.db); err != nil {
		t.Error(err)
	}
	for _, f := range failures {
		t.Error(f)
	}
	if checks.Load() == 0 || rep.PathsSwept == 0 {
		t.Fatalf("%d sweep batches checked, %d paths swept: the collector raced nothing", checks.Load(), rep.PathsSwept)
	}
	if n := c.count(`SELECT count(*) FROM narinfo WHERE hash = ANY ($1)`, accepted); n != int64(len(accepted)) {
		t.Errorf("%d of %d accepted uploads are there after the collections", n, len(accepted))
	}
	if n := c.count(`WITH RECURSIVE l(hash) AS (SELECT narinfo_hash FROM root_path UNION SELECT r.reference FROM reference r JOIN l ON r.referrer = l.hash) SELECT count(*) FROM l JOIN narinfo n USING (hash)`); n != rooted {
		t.Errorf("%d paths of the rooted closure are there, want all %d", n, rooted)
	}
	t.Logf("%d uploads accepted, %d refused, %d paths swept, %d batches checked", len(accepted), refused.Load(), rep.PathsSwept, checks.Load())
}

// pick returns up to n distinct random elements of s.
func pick(s []string, n int) []string {
	var out []string
	for _, i := range rand.Perm(len(s)) {
		if len(out) == n {
			break
		}
		out = append(out, s[i])
	}
	return out
}

// A collector killed mid-sweep leaves a whole graph, and the next run
// finishes its work; the killed run is recorded as interrupted.
func TestGC_SIGKILLMidSweepThenFinish(t *testing.T) {
	t.Parallel()
	c := newGCCache(t)
	// A chain of 600 garbage paths (each referring to the one before) and
	// a rooted one, written straight to the tables for speed.
	c.exec(`INSERT INTO narinfo (hash, name, nar_hash, nar_size, body, created_at)
		SELECT h, 'p', 'sha256:x', 1, '', now() - interval '2 days' - (601 - i) * interval '1 second'
		FROM (SELECT i, lpad(translate(to_hex(i), 'e', 'g'), 32, '0') AS h FROM generate_series(1, 601) i) s`)
	c.exec(`INSERT INTO reference (referrer, reference)
		SELECT lpad(translate(to_hex(i), 'e', 'g'), 32, '0'), lpad(translate(to_hex(i - 1), 'e', 'g'), 32, '0') FROM generate_series(2, 600) i`)
	c.exec(`INSERT INTO root (name) VALUES ('kept')`)
	c.exec(`INSERT INTO root_path (root, narinfo_hash) VALUES ('kept', lpad(translate(to_hex(601), 'e', 'g'), 32, '0'))`)
	args := []string{"gc", "--database-url", c.dbURL, "--local-store", c.store, "--batch-size", "1", "--grace", "1h"}
	p := startNarthex(t, args...)
	testutil.Eventually(t, "the sweep under way", time.Minute, func() bool {
		select {
		case <-p.exited:
			t.Fatalf("narthex gc finished before it was killed:\n%s", p.logs())
		default:
		}
		return c.count(`SELECT count(*) FROM narinfo`) < 550
	})
	p.kill()
	// A batch whose commit the collector sent just before it died commits
	// still: count once its session is gone.
	testutil.Eventually(t, "the killed collector's session gone", time.Minute, func() bool {
		return c.count(`SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'narthex gc%' AND datname = current_database()`) == 0
	})
	if err := c.integrity(t.Context(), c.db); err != nil {
		t.Fatalf("after SIGKILL: %v", err)
	}
	left := c.count(`SELECT count(*) FROM narinfo`)
	if left <= 1 {
		t.Fatalf("%d paths left: the collector finished before it was killed", left)
	}

	p = startNarthex(t, append(args, "--json")...)
	select {
	case <-p.exited:
	case <-time.After(2 * time.Minute):
		t.Fatalf("narthex gc did not finish:\n%s", p.logs())
	}
	if !p.cmd.ProcessState.Success() {
		t.Fatalf("narthex gc: %v\n%s", p.cmd.ProcessState, p.logs())
	}
	var rep gc.Report
	p.mu.Lock()
	out := strings.Join(p.stdout, "\n")
	p.mu.Unlock()
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report %q: %v", out, err)
	}
	if rep.PathsSwept != left-1 || c.count(`SELECT count(*) FROM narinfo`) != 1 {
		t.Errorf("second run swept %d of the %d left; %d paths remain, want only the rooted one",
			rep.PathsSwept, left-1, c.count(`SELECT count(*) FROM narinfo`))
	}
	if n := c.count(`SELECT count(*) FROM gc_run WHERE error = 'interrupted'`); n != 1 {
		t.Errorf("%d runs recorded as interrupted, want the killed one", n)
	}
}

// A payload's bytes stay while a connected edge has not applied the
// delete of its locations, and go once it has; the edge stops serving the
// path.
func TestGC_PayloadWaitsForAConnectedEdge(t *testing.T) {
	t.Parallel()
	c := newGCCache(t)
	kept, _, _ := uploadPath(t, c.base, c.token, []byte("kept"))
	gone, key, _ := uploadPath(t, c.base, c.token, []byte("collected"))
	c.exec(`INSERT INTO root (name) VALUES ('r')`)
	c.exec(`INSERT INTO root_path (root, narinfo_hash) VALUES ('r', $1)`, kept)
	edgeBase := fmt.Sprintf("http://127.0.0.1:%d", freePorts(t, 1))
	edge := startCountingEdge(t, "e1", c.dbURL, tempDir(t), edgeBase, gone)
	c.age(gone)
	// The origin's sweep records a streaming edge as seen: it has been
	// connected for a while when it stops.
	c.exec(`UPDATE edge SET last_seen = now() - interval '3 days'`)
	testutil.Eventually(t, "the streaming edge recorded as seen", edgeWait, func() bool {
		return c.count(`SELECT count(*) FROM edge WHERE last_seen > now() - interval '1 minute'`) == 1
	})
	file := filepath.Join(c.store, filepath.FromSlash(key))
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}

	// A stopped edge keeps its slot's connection and confirms nothing.
	if err := edge.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			edge.cmd.Process.Signal(syscall.SIGCONT)
			resumed = true
		}
	}
	defer resume()
	col := c.collector(gc.Config{})
	rep, err := col.Run(t.Context(), gc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PathsSwept != 1 || rep.FilesRetired != 1 || rep.ObjectsFreed != 0 || rep.ObjectsFenced != 1 {
		t.Fatalf("with the edge stopped: %+v; want the path swept, its file retired and its bytes fenced", rep)
	}
	if len(rep.Edges) != 1 || !rep.Edges[0].Holds {
		t.Errorf("edges %+v, want e1 holding the fence", rep.Edges)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the payload went while the edge had not applied its delete: %v", err)
	}

	resume()
	// The path's delete and its file's retirement are two transactions,
	// applied in order.
	testutil.Eventually(t, "the edge to drop the path and its file", edgeWait, func() bool {
		info, _ := getStatus(edgeBase + "/" + gone + ".narinfo")
		nar, _ := getStatus(edgeBase + "/" + key)
		return info == http.StatusNotFound && nar == http.StatusNotFound
	})
	testutil.Eventually(t, "the payload deleted once the edge confirmed", edgeWait, func() bool {
		rep, err := col.Run(t.Context(), gc.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = os.Stat(file)
		return rep.ObjectsFenced == 0 && os.IsNotExist(err)
	})
	if code, _ := getStatus(edgeBase + "/" + kept + ".narinfo"); code != 200 {
		t.Errorf("edge answers %d for the rooted path, want 200", code)
	}
}
