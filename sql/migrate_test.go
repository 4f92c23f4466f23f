package sql_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/sql"
)

// Stores registered under the policy enum keep their meaning as the
// independent settings, and their priorities.
func TestMigrate_StorePolicyBecomesSettings(t *testing.T) {
	t.Parallel()
	conn := pgtest.Connect(t, pgtest.NewDatabase(t))
	if err := sql.MigrateTo(t.Context(), conn, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), `INSERT INTO store (name, kind, base_url, policy, upload_priority, download_priority) VALUES
		('p', 'local', 'http://p', 'populate', 10, 20),
		('d', 's3', 'http://d', 'drain', 50, 50),
		('r', 'http', 'http://r', 'read_only', 1, 2),
		('w', 's3', 'http://w', 'write_only', 3, 4)`); err != nil {
		t.Fatal(err)
	}
	if err := sql.Migrate(t.Context(), conn); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(t.Context(), `SELECT name, populate, drain, read_only, write_only, upload_priority, download_priority, settings::text
		FROM store ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Name                         string
		Populate, Drain, RO, WO      bool
		UploadPriority, DownloadPrio *int
		Settings                     string
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.Name, &r.Populate, &r.Drain, &r.RO, &r.WO, &r.UploadPriority, &r.DownloadPrio, &r.Settings); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	p := func(n int) *int { return &n }
	want := []row{
		{Name: "d", Drain: true, UploadPriority: p(50), DownloadPrio: p(50), Settings: "{}"},
		{Name: "p", Populate: true, UploadPriority: p(10), DownloadPrio: p(20), Settings: "{}"},
		{Name: "r", RO: true, UploadPriority: p(1), DownloadPrio: p(2), Settings: "{}"},
		{Name: "w", WO: true, UploadPriority: p(3), DownloadPrio: p(4), Settings: "{}"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("stores after the migration (-want +got):\n%s", diff)
	}
	// A store registered now has no priority unless given one.
	var up, down *int
	if err := conn.QueryRow(t.Context(), `INSERT INTO store (name, kind, base_url) VALUES ('new', 'local', 'http://n')
		RETURNING upload_priority, download_priority`).Scan(&up, &down); err != nil {
		t.Fatal(err)
	}
	if up != nil || down != nil {
		t.Fatalf("new store's priorities %v, %v; want unset", up, down)
	}
}

// The schema refuses policies that contradict themselves, whoever writes.
func TestSchema_StorePolicyChecks(t *testing.T) {
	t.Parallel()
	conn := pgtest.Connect(t, pgtest.NewOriginDatabase(t))
	if _, err := conn.Exec(t.Context(), `INSERT INTO store (name, kind, base_url) VALUES ('a', 'local', 'http://a')`); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`INSERT INTO store (name, kind, base_url, read_only, write_only) VALUES ('b', 'local', 'http://b', true, true)`,
		`INSERT INTO store (name, kind, base_url, drain_to) VALUES ('b', 'local', 'http://b', (SELECT id FROM store WHERE name = 'a'))`,
		`UPDATE store SET drain = true, drain_to = id WHERE name = 'a'`,
		`INSERT INTO store (name, kind, base_url, soft_max_size, max_size) VALUES ('b', 'local', 'http://b', 10, 5)`,
		`INSERT INTO store (name, kind, base_url, max_size) VALUES ('b', 'local', 'http://b', -1)`,
		`INSERT INTO store (name, kind, base_url, settings) VALUES ('b', 'local', 'http://b', '[]')`,
		`INSERT INTO store_job (store_id, kind) VALUES ((SELECT id FROM store WHERE name = 'a'), 'dance')`,
	} {
		if _, err := conn.Exec(t.Context(), stmt); err == nil {
			t.Errorf("accepted: %s", stmt)
		}
	}
}
