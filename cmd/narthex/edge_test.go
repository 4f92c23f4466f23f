package main

import (
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/replica/replicatest"
)

// edgeWait bounds each wait for an edge process: generous, as the machine
// may be busy.
const edgeWait = time.Minute

// getStatus answers the status and body of a GET, or 0 when the server
// cannot be reached.
func getStatus(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitExit waits for p to end by itself and returns its exit code.
func (p *proc) waitExit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("narthex still running after %s:\n%s", timeout, p.logs())
		return 0
	}
}

// An edge whose replica has a table that fails its checksum starts,
// rebuilds the replica under a new slot, becomes ready and serves every
// narinfo, instead of exiting at each start.
func TestEdge_CorruptReplicaIsRebuilt(t *testing.T) {
	t.Parallel()
	url := pgtest.NewOriginDatabase(t)
	db := pgtest.Connect(t, url)
	var hashes []string
	batch := &pgx.Batch{}
	for range 200 {
		h := testutil.RandomHash()
		hashes = append(hashes, h)
		batch.Queue(`INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ($1, 'x', 'sha256:x', 1, $2)`, h, "StorePath: /nix/store/"+h+"-x\n")
	}
	if err := db.SendBatch(t.Context(), batch).Close(); err != nil {
		t.Fatal(err)
	}
	dir := tempDir(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", freePorts(t, 1))
	args := []string{"edge", "--name", "corrupt", "--replica-dir", dir, "--database-url", url, "--listen", strings.TrimPrefix(base, "http://")}
	ready := func(p *proc) {
		t.Helper()
		testutil.Eventually(t, "edge ready", edgeWait, func() bool {
			select {
			case <-p.exited:
				t.Fatalf("edge exited:\n%s", p.logs())
			default:
			}
			code, _ := getStatus(base + "/readyz")
			return code == 200
		})
	}
	p := startNarthex(t, args...)
	ready(p)
	p.stop(t)
	current, err := os.ReadFile(filepath.Join(dir, "CURRENT"))
	if err != nil {
		t.Fatal(err)
	}
	// The first hash is in the first block, which the edge reads as it
	// opens the replica.
	replicatest.CorruptTable(t, filepath.Join(dir, strings.TrimSpace(string(current))), slices.Min(hashes))

	p = startNarthex(t, args...)
	ready(p)
	for _, h := range hashes {
		if code, body := getStatus(base + "/" + h + ".narinfo"); code != 200 || body != "StorePath: /nix/store/"+h+"-x\n" {
			t.Fatalf("narinfo %s after the rebuild = %d %q", h, code, body)
		}
	}
	_, metrics := getStatus(base + "/metrics")
	if !strings.Contains(metrics, "narthex_replica_corruptions_total 1") {
		t.Errorf("metrics do not count the corrupt replica:\n%s", metrics)
	}
	if n := strings.Count(p.logs(), "replica corrupt on disk"); n != 1 {
		t.Errorf("corruption logged %d times, want once:\n%s", n, p.logs())
	}
}

// Errors in the flags name the flag, and the edge exits before it starts.
func TestEdge_FlagErrorsNameTheFlag(t *testing.T) {
	t.Parallel()
	url := "postgres://edge@127.0.0.1:1/narthex"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--database-url", url}, `--name "" must be 1-40 characters of [a-z0-9_]`},
		{[]string{"--database-url", url, "--name", "Fra1"}, `--name "Fra1" must be`},
		{[]string{"--database-url", url, "--name", "fra1", "--store-dir", "nix/store"}, `--store-dir "nix/store" must be a clean absolute directory`},
		{[]string{"--database-url", url, "--name", "fra1", "--max-lag", "-1s"}, `--max-lag -1s must not be negative`},
		{[]string{"--database-url", "postgres://h:port/db", "--name", "fra1"}, `--database-url (not shown) is not a PostgreSQL connection string`},
		{[]string{"--database-url", url, "--name", "fra1", "--trusted-proxies", "10.0.0.0/8, 10.1.2.300/32"}, `--trusted-proxies "10.1.2.300/32" is not a network in CIDR notation`},
		{[]string{"--database-url", url, "--name", "fra1", "--trusted-proxies", "proxy.example"}, `--trusted-proxies "proxy.example" is not a network`},
		{[]string{"--database-url", url, "--name", "fra1", "--near-band", "-5"}, `--near-band -5 must be a distance in km, not negative`},
		{[]string{"--database-url", url, "--name", "fra1", "--near-band", "NaN"}, `--near-band NaN must be a distance in km`},
	} {
		p := startNarthex(t, append([]string{"edge", "--replica-dir", tempDir(t), "--listen", "127.0.0.1:0"}, tc.args...)...)
		if code := p.waitExit(t, edgeWait); code != 1 {
			t.Errorf("%v: exit code %d, want 1", tc.args, code)
		}
		if !strings.Contains(p.logs(), "narthex edge: "+tc.want) {
			t.Errorf("%v: stderr %q, want it to say %q", tc.args, p.logs(), tc.want)
		}
	}
}

// An edge with no replica, given an origin database that does not exist,
// exits with the server's reason instead of retrying forever.
func TestEdge_RefusedWithoutReplicaExits(t *testing.T) {
	t.Parallel()
	u, err := neturl.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/no_such_database"
	p := startNarthex(t, "edge", "--name", "refused", "--replica-dir", tempDir(t), "--database-url", u.String(),
		"--listen", fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)))
	if code := p.waitExit(t, edgeWait); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if logs := p.logs(); !strings.Contains(logs, "narthex edge: origin refuses the edge") || !strings.Contains(logs, "SQLSTATE 3D000") {
		t.Errorf("stderr %q, want the refusal and its SQLSTATE", logs)
	}
}
