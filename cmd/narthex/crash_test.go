package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/replication"
)

func randomInt(n int) int {
	v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
	return int(v.Int64())
}

// writeTx commits one transaction of 1-20 new narinfos, and sometimes an
// update and a delete of older ones.
func writeTx(ctx context.Context, db *pgx.Conn, older []string) ([]string, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background())
	var added []string
	for range 1 + randomInt(20) {
		h := testutil.RandomHash()
		if _, err := tx.Exec(ctx, `INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ($1, 'x', 'sha256:x', 1, $2)`,
			h, "StorePath: /nix/store/"+h+"-x\n"); err != nil {
			return nil, err
		}
		added = append(added, h)
	}
	if len(older) > 2 {
		if _, err := tx.Exec(ctx, `UPDATE narinfo SET body = body || 'Sig: k:x\n' WHERE hash = $1`, older[randomInt(len(older))]); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM narinfo WHERE hash = $1`, older[randomInt(len(older))]); err != nil {
			return nil, err
		}
	}
	return added, tx.Commit(ctx)
}

// TestEdge_SIGKILLLosesNothing kills an edge process again and again while
// transactions stream, and checks that its replica ends equal to the origin,
// row by row, with no bootstrap after the first.
func TestEdge_SIGKILLLosesNothing(t *testing.T) {
	url := pgtest.NewOriginDatabase(t)
	db := pgtest.Connect(t, url)
	replicaDir := tempDir(t)
	port := freePorts(t, 1)
	edgeArgs := []string{"edge", "--name", "crash", "--replica-dir", replicaDir, "--database-url", url,
		"--listen", fmt.Sprintf("127.0.0.1:%d", port)}

	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var writeErr error
	var commits atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		wconn, err := pgx.Connect(ctx, url)
		if err != nil {
			writeErr = err
			return
		}
		defer wconn.Close(context.Background())
		var all []string
		for ctx.Err() == nil {
			added, err := writeTx(ctx, wconn, all)
			if err != nil {
				if ctx.Err() == nil {
					writeErr = err
				}
				return
			}
			all = append(all, added...)
			commits.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}()

	var procs []*proc
	for i := range 8 {
		p := startNarthex(t, edgeArgs...)
		procs = append(procs, p)
		// Kill while the edge streams: after it resumed, at a random moment.
		p.waitLog(t, `msg=streaming`, 30*time.Second)
		time.Sleep(time.Duration(50+randomInt(500)) * time.Millisecond)
		p.kill()
		t.Logf("kill %d: %d transactions committed so far", i+1, commits.Load())
	}
	stop()
	wg.Wait()
	if writeErr != nil {
		t.Fatal(writeErr)
	}
	marker, err := writeTx(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}

	p := startNarthex(t, edgeArgs...)
	procs = append(procs, p)
	waitServed(t, fmt.Sprintf("http://127.0.0.1:%d/%s.narinfo", port, marker[0]))
	p.stop(t)

	bootstraps := 0
	for _, p := range procs {
		bootstraps += strings.Count(p.logs(), `msg="bootstrap started"`)
	}
	if bootstraps != 1 {
		t.Errorf("%d bootstraps over %d edge processes, want 1", bootstraps, len(procs))
	}
	r, err := replication.Open(replication.Config{ConnString: url, EdgeName: "crash", Dir: replicaDir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := map[string]string{}
	if err := r.Replica().Narinfos(func(h string, b []byte) error { got[h] = string(b); return nil }); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	rows, _ := db.Query(t.Context(), "SELECT hash, body FROM narinfo")
	for rows.Next() {
		var h, b string
		rows.Scan(&h, &b)
		want[h] = b
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("replica differs from origin after %d kills (-origin +replica):\n%s", len(procs)-1, diff)
	}
	t.Logf("%d narinfos from %d transactions equal on origin and edge", len(want), commits.Load()+1)
}

func waitServed(t *testing.T, url string) {
	t.Helper()
	testutil.Eventually(t, url+" to be served", time.Minute, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}
