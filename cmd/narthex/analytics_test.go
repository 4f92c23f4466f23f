package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
)

// An edge sends its fetch counts to the origin database as it runs; one
// killed loses no more than what it counted since its last send, and one
// started again numbers its batches after the last.
func TestEdge_FetchCountsSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	url := pgtest.NewOriginDatabase(t)
	db := pgtest.Connect(t, url)
	hash := insertNarinfo(t, db)
	dir := tempDir(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", freePorts(t, 1))
	start := func() *proc { return startCountingEdge(t, "counting", url, dir, base, hash) }
	stored := func() (hits, batches int64) {
		t.Helper()
		if err := db.QueryRow(t.Context(), `SELECT coalesce(sum(requests) FILTER (WHERE kind = 'hit' AND key = $1), 0),
			(SELECT count(*) FROM fetch_batch WHERE edge = 'counting') FROM fetch_count`, hash).Scan(&hits, &batches); err != nil {
			t.Fatal(err)
		}
		return hits, batches
	}
	get := func(n int) {
		for range n {
			resp, err := http.Get(base + "/" + hash + ".narinfo")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}

	p := start()
	get(20) // 21 with the one start saw
	testutil.Eventually(t, "21 hits in the database", edgeWait, func() bool { h, _ := stored(); return h == 21 })
	get(30)
	p.kill()
	afterKill, _ := stored()
	if afterKill < 21 || afterKill > 51 {
		t.Fatalf("%d hits stored after the kill, want 21 to 51", afterKill)
	}

	p = start()
	get(10)
	want := afterKill + 11
	testutil.Eventually(t, fmt.Sprintf("%d hits in the database", want), edgeWait, func() bool { h, _ := stored(); return h == want })
	p.stop(t) // a clean stop sends what it counted
	if h, _ := stored(); h != want {
		t.Errorf("%d hits stored after a clean stop, want %d", h, want)
	}
}

// insertNarinfo stores a narinfo of a new hash at the origin and returns
// the hash.
func insertNarinfo(t *testing.T, db *pgx.Conn) string {
	t.Helper()
	hash := testutil.RandomHash()
	if _, err := db.Exec(t.Context(), `INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ($1, 'x', 'sha256:x', 1, $2)`,
		hash, "StorePath: /nix/store/"+hash+"-x\n"); err != nil {
		t.Fatal(err)
	}
	return hash
}

// startCountingEdge starts an edge named name that sends its fetch counts
// every 100ms, serving base from dir, and waits until it serves the
// narinfo of hash.
func startCountingEdge(t *testing.T, name, dbURL, dir, base, hash string) *proc {
	t.Helper()
	p := startNarthex(t, "edge", "--name", name, "--replica-dir", dir, "--database-url", dbURL,
		"--listen", strings.TrimPrefix(base, "http://"), "--analytics-interval", "100ms")
	testutil.Eventually(t, "the edge to serve the narinfo", edgeWait, func() bool {
		select {
		case <-p.exited:
			t.Fatalf("edge exited:\n%s", p.logs())
		default:
		}
		code, _ := getStatus(base + "/" + hash + ".narinfo")
		return code == 200
	})
	return p
}
