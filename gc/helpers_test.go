package gc

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/stores"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// env is an origin database with one local store in a temporary
// directory, and paths written straight into the tables.
type env struct {
	t       *testing.T
	db      *pgxpool.Pool
	dir     string
	storeID int32
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := pgxpool.New(t.Context(), pgtest.NewOriginDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	e := &env{t: t, db: db, dir: t.TempDir()}
	settings, _ := json.Marshal(map[string]string{"dir": e.dir})
	if err := db.QueryRow(t.Context(), `INSERT INTO store (name, kind, base_url, settings) VALUES ('disk', 'local', 'http://127.0.0.1/disk', $1) RETURNING id`,
		settings).Scan(&e.storeID); err != nil {
		t.Fatal(err)
	}
	return e
}

// open opens the env's stores for the collector.
func (e *env) open(ctx context.Context, kind string, settings []byte, baseURL string) (Store, error) {
	var s stores.LocalSettings
	if err := json.Unmarshal(settings, &s); err != nil {
		return nil, err
	}
	return stores.Open(s.Dir)
}

// collector returns a collector of the env with short graces: uploads
// older than a minute are fair game, and payloads go as soon as the fence
// allows.
func (e *env) collector(cfg Config) *Collector {
	e.t.Helper()
	cfg.DB, cfg.Open = e.db, e.open
	if cfg.Grace == 0 {
		cfg.Grace = time.Minute
	}
	if cfg.PayloadGrace == 0 {
		cfg.PayloadGrace = time.Nanosecond
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 3
	}
	c, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) run(c *Collector, opts Options) Report {
	e.t.Helper()
	rep, err := c.Run(e.t.Context(), opts)
	if err != nil {
		e.t.Fatalf("collection: %v", err)
	}
	return rep
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(e.t.Context(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

func (e *env) count(sql string, args ...any) int64 {
	e.t.Helper()
	var n int64
	if err := e.db.QueryRow(e.t.Context(), sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// newHash is a random store path hash.
func newHash() string {
	b := make([]byte, 20)
	rand.Read(b)
	return nixbase32.EncodeToString(b)
}

// path writes a path named name that references refs, uploaded age ago,
// with its own NAR file stored in the env's store, and returns its hash.
func (e *env) path(name string, age time.Duration, refs ...string) string {
	e.t.Helper()
	h := newHash()
	url := "nar/" + newHash() + newHash()[:20] + ".nar"
	key := url
	if err := os.MkdirAll(filepath.Join(e.dir, "nar"), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, key), []byte("nar of "+name), 0o644); err != nil {
		e.t.Fatal(err)
	}
	at := time.Now().Add(-age)
	tx, err := e.db.Begin(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	stmts := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO narinfo (hash, name, nar_hash, nar_size, body, created_at) VALUES ($1, $2, 'sha256:x', 1, $3, $4)`,
			[]any{h, name, "StorePath: /nix/store/" + h + "-" + name + "\n", at}},
		{`INSERT INTO nar_file (url, file_hash, file_size, compression, created_at) VALUES ($1, 'sha256:x', $2, 'none', $3)`,
			[]any{url, len("nar of " + name), at}},
		{`INSERT INTO narinfo_file (narinfo_hash, url) VALUES ($1, $2)`, []any{h, url}},
		{`INSERT INTO payload_location (url, store_id, key, size) VALUES ($1, $2, $3, $4)`, []any{url, e.storeID, key, len("nar of " + name)}},
		{`INSERT INTO reference (referrer, reference) SELECT $1, unnest($2::text[])`, []any{h, refs}},
	}
	for _, s := range stmts {
		if _, err := tx.Exec(e.t.Context(), s.sql, s.args...); err != nil {
			e.t.Fatalf("%s: %v", s.sql, err)
		}
	}
	if err := tx.Commit(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
	return h
}

// holdingSlot makes a logical replication slot, which confirms nothing
// past its creation, and registers an edge "holder" following it; it
// returns the slot's name.
func (e *env) holdingSlot() string {
	e.t.Helper()
	slot := "gc_hold_" + newHash()
	e.exec(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, slot)
	e.exec(`INSERT INTO edge (name, slot_name) VALUES ('holder', $1)`, slot)
	return slot
}

// root roots hashes under name, expiring at expires (nil: never).
func (e *env) root(name string, expires *time.Time, hashes ...string) {
	e.t.Helper()
	e.exec(`INSERT INTO root (name, expires_at) VALUES ($1, $2)`, name, expires)
	e.exec(`INSERT INTO root_path (root, narinfo_hash) SELECT $1, unnest($2::text[])`, name, hashes)
}

// present reports which of hashes are in the cache.
func (e *env) present(hashes ...string) map[string]bool {
	e.t.Helper()
	rows, err := e.db.Query(e.t.Context(), `SELECT hash FROM narinfo WHERE hash = ANY ($1)`, hashes)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var h string
		rows.Scan(&h)
		out[h] = true
	}
	return out
}

// wantPresent fails unless exactly the hashes of want (by name) are
// present among all.
func (e *env) wantPresent(all map[string]string, want ...string) {
	e.t.Helper()
	var hashes []string
	for _, h := range all {
		hashes = append(hashes, h)
	}
	got := e.present(hashes...)
	var wrong []string
	for name, h := range all {
		w := false
		for _, n := range want {
			if n == name {
				w = true
			}
		}
		if got[h] != w {
			wrong = append(wrong, fmt.Sprintf("%s present=%v want %v", name, got[h], w))
		}
	}
	if len(wrong) > 0 {
		e.t.Errorf("after collection: %s", strings.Join(wrong, "; "))
	}
}

// objects counts the NAR objects in the env's store directory.
func (e *env) objects() int {
	e.t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.dir, "nar"))
	if err != nil && !os.IsNotExist(err) {
		e.t.Fatal(err)
	}
	return len(entries)
}

// graphIntact fails on a reference to a missing path or a rooted path that
// is missing. Both are impossible by the foreign keys; the check is for the
// collector's own mistakes showing through any other way.
func (e *env) graphIntact() {
	e.t.Helper()
	if n := e.count(`SELECT count(*) FROM reference r WHERE NOT EXISTS (SELECT FROM narinfo n WHERE n.hash = r.reference)`); n != 0 {
		e.t.Errorf("%d dangling references", n)
	}
	if n := e.count(`SELECT count(*) FROM root_path p WHERE NOT EXISTS (SELECT FROM narinfo n WHERE n.hash = p.narinfo_hash)`); n != 0 {
		e.t.Errorf("%d rooted paths missing", n)
	}
	if n := e.count(`SELECT count(*) FROM narinfo_file l WHERE NOT EXISTS (SELECT FROM payload_location p WHERE p.url = l.url)`); n != 0 {
		e.t.Errorf("%d listed NAR files without a location", n)
	}
}
