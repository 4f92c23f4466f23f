package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
)

// An edge runs as the role narthex edge-role makes: it bootstraps, streams
// and writes its fetch counts; the role can do nothing else.
func TestEdgeRole_RunsAnEdgeAndNothingElse(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewOriginDatabase(t)
	db := pgtest.Connect(t, dbURL)
	role := "edge_" + testutil.RandomHash()[:8]
	t.Cleanup(func() {
		ctx := context.Background()
		db.Exec(ctx, "DROP OWNED BY "+role)
		db.Exec(ctx, "DROP ROLE "+role)
	})
	hash := insertNarinfo(t, db)

	for _, bad := range []string{"Edge", "1edge", "edge-eu", ""} {
		if _, errOut, code := narthex(t, "edge-role", "create", bad, "--database-url", dbURL); code != 1 || !strings.Contains(errOut, "role name") && bad != "" {
			t.Errorf("edge-role create %q: exit %d, %s", bad, code, errOut)
		}
	}
	for range 2 { // again: nothing changes, nothing fails
		if out, errOut, code := narthex(t, "edge-role", "create", role, "--database-url", dbURL); code != 0 || !strings.Contains(out, "role "+role) {
			t.Fatalf("edge-role create: exit %d, %s%s", code, out, errOut)
		}
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	roleURL := u.String()

	base := fmt.Sprintf("http://127.0.0.1:%d", freePorts(t, 1))
	p := startCountingEdge(t, "as_role", roleURL, tempDir(t), base, hash)
	defer p.stop(t)
	testutil.Eventually(t, "the edge's fetch counts", edgeWait, func() bool {
		var n int
		db.QueryRow(t.Context(), `SELECT count(*) FROM fetch_count WHERE edge = 'as_role' AND key = $1`, hash).Scan(&n)
		return n > 0
	})

	conn, err := pgx.Connect(t.Context(), roleURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range []string{
		`INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ('` + testutil.RandomHash() + `', 'y', 'sha256:y', 1, 'y')`,
		`UPDATE narinfo SET body = 'forged'`,
		`DELETE FROM payload_location`,
		`UPDATE store SET read_only = true`,
		`SELECT * FROM upload_token`,
		`SELECT token_sha256 FROM upload_token`,
		`SELECT created_at FROM narinfo`,
		`SELECT * FROM reference`,
		`DELETE FROM fetch_count`,
		`CREATE TABLE x (y int)`,
	} {
		_, err := conn.Exec(t.Context(), q)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("as the edge's role, %s: %v, want permission denied (42501)", q, err)
		}
	}
}
