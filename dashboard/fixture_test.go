package dashboard

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/analytics"
	"github.com/narthex-cache/narthex/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Paths of the fixture: a and b are fetched, c never is; m is asked for
// and not held.
const (
	hashA = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a"
	hashB = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"
	hashC = "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c"
	hashM = "0m0m0m0m0m0m0m0m0m0m0m0m0m0m0m0m"
	fileA = "nar/aaaa.nar.xz"
	sizeA = 1 << 20
)

// fixture is a migrated origin database with three paths, two stores (one
// with a running job) and two edges' fetch counts, flushed through the
// edges' own Flusher so that the roll-ups are the trigger's.
type fixture struct {
	db  *pgxpool.Pool
	now time.Time
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := t.Context()
	db, err := pgxpool.New(ctx, pgtest.NewOriginDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	f := fixture{db: db, now: time.Now().UTC()}
	f.exec(t, `INSERT INTO narinfo (hash, name, nar_hash, nar_size, body, created_at) VALUES
		($1, 'hello-2.12', 'sha256:a', 100, 'a', now() - interval '3 days'),
		($2, 'curl-8.5.0', 'sha256:b', 100, 'b', now() - interval '2 days'),
		($3, 'unused-1.0', 'sha256:c', 100, 'c', now() - interval '1 day')`, hashA, hashB, hashC)
	f.exec(t, `INSERT INTO nar_file (url, file_hash, file_size, compression) VALUES ($1, 'aaaa', $2, 'xz')`, fileA, sizeA)
	f.exec(t, `INSERT INTO narinfo_file (narinfo_hash, url) VALUES ($1, $2)`, hashA, fileA)
	f.exec(t, `INSERT INTO store (name, kind, base_url, region, max_size) VALUES
		('frankfurt', 's3', 'http://s3.example', 'eu', 10485760), ('origin', 'local', 'http://origin', '', NULL)`)
	f.exec(t, `INSERT INTO payload_location (url, store_id, key, size)
		SELECT $1, id, 'aaaa.nar.xz', $2 FROM store WHERE name = 'frankfurt'`, fileA, sizeA)
	f.exec(t, `INSERT INTO store_job (store_id, kind, total, done, bytes)
		SELECT id, 'populate', 10, 4, 4096 FROM store WHERE name = 'frankfurt'`)
	f.exec(t, `INSERT INTO edge (name, slot_name, region) VALUES ('fra', 'narthex_fra_00000000', 'eu')`)

	today := f.now.Truncate(time.Hour)
	tenDaysAgo := today.AddDate(0, 0, -10)
	// Edge fra: today, a hit on a five times from Germany and twice on b
	// from the US, three misses of m from Germany, four redirects to a's
	// file from Germany. Edge sin (not registered): b hit seven times from
	// France ten days ago.
	f.flush(t, "fra", []fetch{
		{analytics.Hit, hashA, "DE", today, 5},
		{analytics.Hit, hashB, "US", today, 2},
		{analytics.Miss, hashM, "DE", today, 3},
		{analytics.Redirect, fileA, "DE", today, 4},
		{analytics.Client, "nix/2.8.0", "DE", today, 12},
		{analytics.Client, "curl", "US", today, 2},
	})
	f.flush(t, "sin", []fetch{
		{analytics.Hit, hashB, "FR", tenDaysAgo, 7},
		{analytics.Client, "guix", "FR", tenDaysAgo, 7},
	})
	return f
}

// fetch is requests of kind for key from country in the hour of at.
type fetch struct {
	kind     analytics.Kind
	key      string
	country  string
	at       time.Time
	requests int
}

// flush counts cs in a Counter and flushes them as edge's next batch.
func (f fixture) flush(t *testing.T, edge string, cs []fetch) {
	t.Helper()
	c := analytics.New(1000)
	for _, x := range cs {
		for range x.requests {
			c.Add(x.kind, []byte(x.key), [2]byte{x.country[0], x.country[1]}, x.at.Unix()/3600)
		}
	}
	fl, err := analytics.NewFlusher(analytics.FlusherConfig{Edge: edge}, c, f.db)
	if err != nil {
		t.Fatal(err)
	}
	if err := fl.Flush(t.Context()); err != nil {
		t.Fatalf("flush %s: %v", edge, err)
	}
}

func (f fixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
