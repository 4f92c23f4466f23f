package placement_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/placement"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newDB returns a pool on a fresh origin database.
func newDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	db, err := pgxpool.New(t.Context(), pgtest.NewOriginDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func ptr[T any](v T) *T { return &v }

// deref shows a nullable value: nil or what it points to.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// localStore is a valid local store named name.
func localStore(name string) placement.Store {
	return placement.Store{Name: name, Kind: "local", BaseURL: "http://127.0.0.1:8080",
		Settings: []byte(`{"dir": "/var/lib/narthex/` + name + `"}`)}
}

func mustAdd(t *testing.T, db placement.DB, st placement.Store) placement.Store {
	t.Helper()
	got, err := placement.Add(t.Context(), db, st)
	if err != nil {
		t.Fatalf("add %s: %v", st.Name, err)
	}
	return got
}

// addFile records a NAR file of size bytes.
func addFile(t *testing.T, db placement.DB, url string, size int64) {
	t.Helper()
	_, err := db.Exec(t.Context(), "INSERT INTO nar_file (url, file_hash, file_size, compression) VALUES ($1, 'sha256:x', $2, 'xz')", url, size)
	if err != nil {
		t.Fatal(err)
	}
}

// locate records url in the store named store, in state.
func locate(t *testing.T, db placement.DB, url, store, state string) {
	t.Helper()
	_, err := db.Exec(t.Context(), `INSERT INTO payload_location (url, store_id, key, state)
		SELECT $1, id, $1, $3 FROM store WHERE name = $2`, url, store, state)
	if err != nil {
		t.Fatal(err)
	}
}

// snapshot is every row of the tables the registry writes, as text, so
// that a refused change can be shown to have changed nothing.
func snapshot(t *testing.T, db placement.DB) string {
	t.Helper()
	var s string
	err := db.QueryRow(context.Background(), `SELECT
		coalesce((SELECT string_agg(t::text, E'\n' ORDER BY t.id) FROM store t), '') || E'\n--\n' ||
		coalesce((SELECT string_agg(l::text, E'\n' ORDER BY l.url, l.store_id) FROM payload_location l), '') || E'\n--\n' ||
		coalesce((SELECT string_agg(j::text, E'\n' ORDER BY j.id) FROM store_job j), '')`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
