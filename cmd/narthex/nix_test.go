package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/nixtest"
	"github.com/narthex-cache/narthex/narinfo"
)

// TestDev_NixCopyThroughEdge is the quick start: narthex dev, then the real
// Nix client uploads to the origin and substitutes from an edge.
func TestDev_NixCopyThroughEdge(t *testing.T) {
	t.Parallel()
	n := nixtest.New(t)
	dir := filepath.Join(tempDir(t), "state")
	port := freePorts(t, 3)
	dev := startNarthex(t, "dev", "--dir", dir, "--port", fmt.Sprint(port))
	dev.waitLine(t, "ready", 90*time.Second)
	origin := fmt.Sprintf("http://127.0.0.1:%d", port)
	edge1 := fmt.Sprintf("http://127.0.0.1:%d", port+1)
	edge2 := fmt.Sprintf("http://127.0.0.1:%d", port+2)
	pub, err := os.ReadFile(filepath.Join(dir, "cache-key.pub"))
	if err != nil {
		t.Fatal(err)
	}

	c := n.Build("c")
	d := n.Build("d")
	closure := n.Closure(c)
	if len(closure) != 3 {
		t.Fatalf("closure of c = %v, want 3 paths", closure)
	}
	if _, err := n.Run("nix", "copy", "--store", n.Store("r1"), "--to", origin, c); err == nil {
		t.Fatal("upload without credentials succeeded")
	}
	n.Must("nix", "copy", "--store", n.Store("r1"), "--option", "netrc-file", filepath.Join(dir, "netrc"), "--to", origin, c)

	// Edge 2 serves the closure, signed by the cache's key.
	var copyErr error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		_, copyErr = n.Run("nix", "copy", "--option", "require-sigs", "true",
			"--option", "trusted-public-keys", string(pub), "--option", "narinfo-cache-negative-ttl", "0",
			"--from", edge2, "--to", n.Store("r2"), c)
		if copyErr == nil {
			break
		}
	}
	if copyErr != nil {
		t.Fatal(copyErr)
	}
	for _, p := range closure {
		if _, err := os.Stat(filepath.Join(n.Dir, "r2", p)); err != nil {
			t.Errorf("%s not substituted: %v", p, err)
		}
	}
	got := strings.Fields(n.Must("nix", "path-info", "--store", edge1, "-r", c))
	slices.Sort(got)
	if !slices.Equal(got, closure) {
		t.Errorf("path-info -r on edge 1 = %v, want %v", got, closure)
	}
	if _, err := n.Run("nix", "path-info", "--store", edge1, d); err == nil {
		t.Errorf("path-info of never-uploaded %s succeeded on the edge", d)
	}

	// A client that trusts another key refuses the edge's paths.
	_, other, err := narinfo.GenerateKey("narthex-dev-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Run("nix", "copy", "--option", "require-sigs", "true", "--option", "trusted-public-keys", other.String(),
		"--from", edge2, "--to", n.Store("r3"), c); err == nil {
		t.Error("copy with a wrong trusted key succeeded")
	}

	// Stopping narthex dev stops PostgreSQL; running it again keeps the data.
	dev.stop(t)
	if !dev.cmd.ProcessState.Success() {
		t.Fatalf("narthex dev exited with %v after SIGINT", dev.cmd.ProcessState)
	}
	logs := dev.logs()
	stopped := strings.LastIndex(logs, `msg="postgres stopped"`)
	serversDone := strings.LastIndex(logs, "msg=stopped")
	if stopped < 0 || serversDone < 0 || stopped < serversDone || strings.Contains(logs[stopped:], "level=ERROR") {
		t.Fatalf("PostgreSQL did not stop cleanly, after the servers:\n%s", logs)
	}
	if pid, err := os.ReadFile(filepath.Join(dir, "postgres", "data", "postmaster.pid")); err == nil {
		t.Fatalf("postmaster.pid remains after narthex dev stopped: %s", pid)
	}
	dev = startNarthex(t, "dev", "--dir", dir, "--port", fmt.Sprint(port))
	dev.waitLine(t, "ready", 90*time.Second)
	hash := strings.SplitN(filepath.Base(c), "-", 2)[0]
	resp, err := http.Get(edge1 + "/" + hash + ".narinfo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after restart, edge answers %d for an uploaded path", resp.StatusCode)
	}
}
