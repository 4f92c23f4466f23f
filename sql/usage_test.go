package sql_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/narthex-cache/narthex/internal/pgtest"
)

// A store's usage equals what its locations hold by the records (every
// location but a missing one) after statements that write many locations
// of several stores at once: inserts, state and size and store changes,
// updates that change nothing counted, and deletes, also with foreign-key
// triggers off as bulk loads run.
func TestStoreUsage_FollowsEveryStatement(t *testing.T) {
	t.Parallel()
	conn := pgtest.Connect(t, pgtest.NewOriginDatabase(t))
	exec := func(q string) {
		t.Helper()
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	check := func(after string) {
		t.Helper()
		type usage struct {
			Store        string
			Bytes, Files int64
		}
		read := func(q string) []usage {
			rows, err := conn.Query(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			var out []usage
			for rows.Next() {
				var u usage
				if err := rows.Scan(&u.Store, &u.Bytes, &u.Files); err != nil {
					t.Fatal(err)
				}
				out = append(out, u)
			}
			return out
		}
		kept := read(`SELECT s.name, u.bytes, u.files FROM store s JOIN store_usage u ON u.store_id = s.id ORDER BY s.name`)
		want := read(`SELECT s.name, coalesce(sum(l.size) FILTER (WHERE l.state <> 'missing'), 0)::bigint,
			count(l.url) FILTER (WHERE l.state <> 'missing') FROM store s LEFT JOIN payload_location l ON l.store_id = s.id
			GROUP BY s.name ORDER BY s.name`)
		if diff := cmp.Diff(want, kept); diff != "" {
			t.Errorf("after %s: store_usage (-from the locations +kept):\n%s", after, diff)
		}
	}
	exec(`INSERT INTO store (name, kind, base_url) VALUES ('a', 'local', 'http://a'), ('b', 'local', 'http://b')`)
	exec(`INSERT INTO nar_file (url, file_hash, file_size, compression)
		SELECT 'nar/' || i || '.nar', 'sha256:x', i, 'none' FROM generate_series(1, 300) i`)
	steps := []struct{ name, sql string }{
		{"inserting into two stores at once", `INSERT INTO payload_location (url, store_id, key, size, state)
			SELECT f.url, s.id, f.url, f.file_size, CASE WHEN f.file_size % 7 = 0 THEN 'missing' ELSE 'good' END
			FROM nar_file f, store s WHERE s.name IN ('a', 'b')`},
		{"marking some missing and some corrupt", `UPDATE payload_location SET state = CASE WHEN size % 3 = 0 THEN 'missing' ELSE 'corrupt' END WHERE size % 5 = 0`},
		{"changing sizes", `UPDATE payload_location SET size = size * 2 WHERE size % 11 = 0`},
		{"an update that moves nothing", `UPDATE payload_location SET verified_at = now()`},
		{"a location without a size", `UPDATE payload_location SET size = NULL WHERE size = 26`},
		{"moving locations between stores", `UPDATE payload_location l SET store_id = (SELECT id FROM store WHERE name = 'b')
			WHERE store_id = (SELECT id FROM store WHERE name = 'a') AND size % 13 = 0
			AND NOT EXISTS (SELECT FROM payload_location o WHERE o.url = l.url AND o.store_id = (SELECT id FROM store WHERE name = 'b'))`},
		{"deleting from both stores", `DELETE FROM payload_location WHERE size % 4 = 0`},
	}
	for _, s := range steps {
		exec(s.sql)
		check(s.name)
	}
	exec(`SET session_replication_role = replica`)
	exec(`DELETE FROM payload_location WHERE size % 2 = 0`)
	check("a delete with foreign-key triggers off")
	exec(`INSERT INTO payload_location (url, store_id, key, size) SELECT f.url, s.id, f.url, 1 FROM nar_file f, store s
		WHERE s.name = 'a' AND f.file_size % 2 = 0 ON CONFLICT DO NOTHING`)
	check("an insert with foreign-key triggers off")
}
