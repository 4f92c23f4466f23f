package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/nixtest"
	"github.com/narthex-cache/narthex/internal/testutil"
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

// TestDev_GarbageCollectionWithNix: the real Nix client uploads a closure
// through narthex dev, a root keeps part of it, and a collection removes
// the rest: the rooted closure still substitutes from an edge, the
// unrooted paths are gone from every edge, and their payloads from the
// store once both edges have applied the delete.
func TestDev_GarbageCollectionWithNix(t *testing.T) {
	t.Parallel()
	n := nixtest.New(t)
	dir := filepath.Join(tempDir(t), "state")
	port := freePorts(t, 3)
	dev := startNarthex(t, "dev", "--dir", dir, "--port", fmt.Sprint(port))
	dev.waitLine(t, "ready", 90*time.Second)
	origin := fmt.Sprintf("http://127.0.0.1:%d", port)
	edges := []string{fmt.Sprintf("http://127.0.0.1:%d", port+1), fmt.Sprintf("http://127.0.0.1:%d", port+2)}
	dbURL := ""
	dev.mu.Lock()
	for _, l := range dev.stdout {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "database" {
			dbURL = f[1]
		}
	}
	dev.mu.Unlock()
	if dbURL == "" {
		t.Fatal("narthex dev printed no database URL")
	}

	d := n.Build("d")
	b := n.Build("b")
	closure := n.Closure(d) // a, b, c, d
	n.Must("nix", "copy", "--store", n.Store("r1"), "--option", "netrc-file", filepath.Join(dir, "netrc"), "--to", origin, d)
	hash := func(p string) string { return strings.SplitN(filepath.Base(p), "-", 2)[0] }
	c := ""
	for _, p := range closure {
		if strings.HasSuffix(p, "-c") {
			c = p
		}
	}
	// The NAR files of the paths that will go, read from the origin.
	var files []string
	for _, p := range []string{c, d} {
		resp, err := http.Get(origin + "/" + hash(p) + ".narinfo")
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		io.Copy(&body, resp.Body)
		resp.Body.Close()
		for _, l := range strings.Split(body.String(), "\n") {
			if u, ok := strings.CutPrefix(l, "URL: "); ok {
				files = append(files, filepath.Join(dir, "nars", filepath.FromSlash(u)))
			}
		}
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("payload before collection: %v", err)
		}
	}
	edgeHas := func(edge, p string) int {
		code, _ := getStatus(edge + "/" + hash(p) + ".narinfo")
		return code
	}
	testutil.Eventually(t, "both edges serve the closure", 30*time.Second, func() bool {
		return edgeHas(edges[0], d) == 200 && edgeHas(edges[1], d) == 200
	})

	startNarthex(t, "roots", "add", "release", b, "--origin", origin, "--token-file", filepath.Join(dir, "token")).waitExit(t, time.Minute)
	// Everything is past a grace of a second once a second has passed.
	time.Sleep(1100 * time.Millisecond)
	gcRun := func() string {
		t.Helper()
		p := startNarthex(t, "gc", "--database-url", dbURL, "--local-store", filepath.Join(dir, "nars"),
			"--grace", "1s", "--payload-grace", "1s")
		if code := p.waitExit(t, time.Minute); code != 0 {
			t.Fatalf("narthex gc exited %d:\n%s", code, p.logs())
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		return strings.Join(p.stdout, "\n")
	}
	out := gcRun()
	if !strings.Contains(out, "deleted 2 paths") {
		t.Fatalf("first collection:\n%s\nwant 2 paths deleted", out)
	}
	for _, e := range edges {
		testutil.Eventually(t, "the edges drop the unrooted paths", 30*time.Second, func() bool {
			return edgeHas(e, c) == 404 && edgeHas(e, d) == 404
		})
	}
	if _, err := n.Run("nix", "path-info", "--store", edges[0], d); err == nil {
		t.Errorf("path-info of collected %s succeeded on an edge", d)
	}
	// The payloads go once the payload grace has passed and both edges
	// have confirmed the delete of their locations.
	testutil.Eventually(t, "the payloads deleted", 60*time.Second, func() bool {
		time.Sleep(time.Second)
		gcRun()
		for _, f := range files {
			if _, err := os.Stat(f); !os.IsNotExist(err) {
				return false
			}
		}
		return true
	})
	pub, err := os.ReadFile(filepath.Join(dir, "cache-key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	fresh := n.FreshCache()
	fresh.Must("nix", "copy", "--option", "require-sigs", "true", "--option", "trusted-public-keys", string(pub),
		"--from", edges[1], "--to", fresh.Store("r2"), b)
	for _, p := range n.Closure(b) {
		if _, err := os.Stat(filepath.Join(fresh.Dir, "r2", p)); err != nil {
			t.Errorf("rooted %s not substituted after collection: %v", p, err)
		}
	}
}
