package maintain

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/stores"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// env is a database with local stores in temporary directories.
type env struct {
	t    *testing.T
	db   *pgxpool.Pool
	dirs map[string]string // store name to directory
	ids  map[string]int32

	mu      sync.Mutex
	opened  map[string]*countingStore // by directory, so counts last across passes
	logs    syncBuffer
	wrapPut func(ctx context.Context, dir string) error
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := pgxpool.New(t.Context(), pgtest.NewOriginDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return &env{t: t, db: db, dirs: map[string]string{}, ids: map[string]int32{}, opened: map[string]*countingStore{}}
}

// store registers a local store named name in a new directory, with the
// policy set (an SQL SET list, "" for none), and returns its id.
func (e *env) store(name, set string) int32 {
	e.t.Helper()
	dir := e.t.TempDir()
	settings, _ := json.Marshal(map[string]string{"dir": dir})
	var id int32
	if err := e.db.QueryRow(e.t.Context(), `INSERT INTO store (name, kind, base_url, settings) VALUES ($1, 'local', $2, $3) RETURNING id`,
		name, "http://127.0.0.1/"+name, settings).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	if set != "" {
		e.exec("UPDATE store SET "+set+" WHERE id = $1", id)
	}
	e.dirs[name], e.ids[name] = dir, id
	return id
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(e.t.Context(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// nar is a NAR file of the test's.
type nar struct {
	url  string
	hash string // sha256:<nixbase32>
	data []byte
}

// file makes a NAR file of size random bytes, uploaded age ago, with a
// narinfo listing it.
func (e *env) file(size int, age time.Duration) nar {
	e.t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	sum := sha256.Sum256(data)
	h := nixbase32.EncodeToString(sum[:])
	n := nar{url: "nar/" + h + ".nar", hash: "sha256:" + h, data: data}
	e.exec(`INSERT INTO nar_file (url, file_hash, file_size, compression, created_at) VALUES ($1, $2, $3, 'none', now() - $4::interval)`,
		n.url, n.hash, size, age)
	hash := testutil.RandomHash()
	e.exec(`INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ($1, 'x', $2, $3, 'StorePath: x')`, hash, n.hash, size)
	e.exec(`INSERT INTO narinfo_file (narinfo_hash, url) VALUES ($1, $2)`, hash, n.url)
	return n
}

// put writes n into store name and records the location good.
func (e *env) put(name string, n nar) {
	e.t.Helper()
	l, err := stores.Open(e.dirs[name])
	if err != nil {
		e.t.Fatal(err)
	}
	if _, _, err := l.Put(e.t.Context(), n.url, bytes.NewReader(n.data), nil); err != nil {
		e.t.Fatal(err)
	}
	e.exec(`INSERT INTO payload_location (url, store_id, key, size) VALUES ($1, $2, $1, $3)`, n.url, e.ids[name], len(n.data))
}

// path is the file of n in store name.
func (e *env) path(name string, n nar) string {
	return filepath.Join(e.dirs[name], filepath.FromSlash(n.url))
}

// states returns the state of each location of store name, by URL.
func (e *env) states(name string) map[string]string {
	e.t.Helper()
	rows, err := e.db.Query(e.t.Context(), `SELECT url, state FROM payload_location WHERE store_id = $1`, e.ids[name])
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var url, state string
		if err := rows.Scan(&url, &state); err != nil {
			e.t.Fatal(err)
		}
		m[url] = state
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return m
}

// holds checks that store name holds exactly wants, recorded good and
// verified, with the right bytes on disk.
func (e *env) holds(name string, want ...nar) {
	e.t.Helper()
	got := e.states(name)
	if len(got) != len(want) {
		e.t.Errorf("store %s has %d locations, want %d: %v", name, len(got), len(want), got)
	}
	for _, n := range want {
		if got[n.url] != "good" {
			e.t.Errorf("store %s: location of %s is %q, want good", name, n.url, got[n.url])
		}
		b, err := os.ReadFile(e.path(name, n))
		if err != nil || !bytes.Equal(b, n.data) {
			e.t.Errorf("store %s: %s holds %d bytes (%v), not the file's", name, n.url, len(b), err)
		}
	}
	var files int
	filepath.WalkDir(e.dirs[name], func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files++
		}
		return nil
	})
	if files != len(want) {
		e.t.Errorf("store %s's directory has %d files, want %d", name, files, len(want))
	}
}

func (e *env) usage(name string) int64 {
	e.t.Helper()
	var b int64
	if err := e.db.QueryRow(e.t.Context(), `SELECT bytes FROM store_usage WHERE store_id = $1`, e.ids[name]).Scan(&b); err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) withdrawn(n nar) bool {
	e.t.Helper()
	var w bool
	if err := e.db.QueryRow(e.t.Context(), `SELECT bool_or(n.withdrawn) FROM narinfo n JOIN narinfo_file f ON f.narinfo_hash = n.hash WHERE f.url = $1`, n.url).Scan(&w); err != nil {
		e.t.Fatal(err)
	}
	return w
}

// open is the Config.Open of the tests: local stores from {"dir": ...}.
func (e *env) open(ctx context.Context, kind string, settings []byte, baseURL string) (Store, error) {
	if kind != stores.KindLocal {
		return nil, fmt.Errorf("kind %s not supported here", kind)
	}
	var s struct{ Dir string }
	if err := json.Unmarshal(settings, &s); err != nil || s.Dir == "" {
		return nil, fmt.Errorf("no dir in settings %s", settings)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.opened[s.Dir]; ok {
		return c, nil
	}
	l, err := stores.Open(s.Dir)
	if err != nil {
		return nil, err
	}
	c := &countingStore{Local: l, e: e}
	e.opened[s.Dir] = c
	return c, nil
}

// puts is how many Puts committed into store name.
func (e *env) puts(name string) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.opened[e.dirs[name]]; ok {
		return c.puts.Load()
	}
	return 0
}

// countingStore counts the Puts that committed.
type countingStore struct {
	*stores.Local
	e    *env
	puts atomic.Int64
}

func (c *countingStore) Put(ctx context.Context, key string, r io.Reader, want []byte) (int64, []byte, error) {
	if c.e.wrapPut != nil {
		if err := c.e.wrapPut(ctx, c.Dir()); err != nil {
			return 0, nil, err
		}
	}
	n, sum, err := c.Local.Put(ctx, key, r, want)
	if err == nil {
		c.puts.Add(1)
	}
	return n, sum, err
}

// maintainer returns a Maintainer of e's stores, logging into e.logs.
func (e *env) maintainer(cfg Config) *Maintainer {
	e.t.Helper()
	cfg.DB = e.db
	cfg.Open = e.open
	cfg.JobUpdateInterval = 50 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(&e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// run runs one pass and fails the test on an error.
func (e *env) run(m *Maintainer, only string) Summary {
	e.t.Helper()
	sum, err := m.RunOnce(e.t.Context(), only)
	if err != nil {
		e.t.Fatalf("RunOnce: %v\nlogs:\n%s", err, e.logs.String())
	}
	return sum
}

// jobOf returns the summary of the job of kind for store name in s.
func jobOf(t *testing.T, s Summary, name, kind string) JobSummary {
	t.Helper()
	for _, j := range s.Jobs {
		if j.Store == name && j.Kind == kind {
			return j
		}
	}
	t.Fatalf("no %s job of store %s in %+v", kind, name, s.Jobs)
	return JobSummary{}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) contains(sub string) bool { return strings.Contains(s.String(), sub) }
