package sql_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/sql"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestMigrate_IdempotentAndPublishesOnlyWhatEdgesServe(t *testing.T) {
	t.Parallel()
	url := pgtest.NewOriginDatabase(t)
	if err := sql.MigrateURL(t.Context(), url); err != nil {
		t.Fatal(err)
	}
	conn := pgtest.Connect(t, url)
	rows, err := conn.Query(t.Context(),
		`SELECT tablename, array_to_string(attnames, ',') FROM pg_publication_tables WHERE pubname = $1 ORDER BY tablename`, sql.Publication)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var table, cols string
		if err := rows.Scan(&table, &cols); err != nil {
			t.Fatal(err)
		}
		got[table] = cols
	}
	want := map[string]string{
		"narinfo":          "hash,body,withdrawn",
		"payload_location": "url,store_id,key,state",
		"store":            "id,name,kind,base_url,region,latitude,longitude,upload_priority,download_priority,read_only,write_only,settings",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("published tables and columns (-want +got):\n%s", diff)
	}
}

func TestSchema_ReferencesMustExist(t *testing.T) {
	t.Parallel()
	conn := pgtest.Connect(t, pgtest.NewOriginDatabase(t))
	const a, b = "ggbqg8lqjwj75wznkv03h0x2bjr2in0j", "54dfqaxwz23zvax91bpff2q48w2d2w6s"
	if _, err := conn.Exec(t.Context(), `INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ($1, 'a', 'sha256:x', 1, 'x')`, a); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, sql string }{
		{"reference to an absent path", `INSERT INTO reference (referrer, reference) VALUES ('` + a + `', '` + b + `')`},
		{"hash outside nixbase32", `INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ('eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee', 'e', 'sha256:x', 1, 'x')`},
		{"NarSize 0", `INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ('` + b + `', 'b', 'sha256:x', 0, 'x')`},
		{"self reference", `INSERT INTO reference (referrer, reference) VALUES ('` + a + `', '` + a + `')`},
	} {
		if _, err := conn.Exec(t.Context(), tc.sql); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := conn.Exec(t.Context(), `INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ($1, 'b', 'sha256:x', 1, 'x')`, b); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), `INSERT INTO reference (referrer, reference) VALUES ($1, $2)`, b, a); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), `DELETE FROM narinfo WHERE hash = $1`, a); err == nil {
		t.Error("deleted a path another path refers to")
	}
}

// A connection string may carry the pool's settings, which PostgreSQL
// itself would refuse as unknown parameters.
func TestMigrateURL_AcceptsPoolSettings(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	if err := sql.MigrateURL(t.Context(), url+sep+"pool_max_conns=3"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pgtest.Connect(t, url).QueryRow(t.Context(), `SELECT count(*) FROM pg_publication WHERE pubname = $1`, sql.Publication).Scan(&n); err != nil || n != 1 {
		t.Fatalf("publication count %d, err %v: not migrated", n, err)
	}
}
