package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/narinfo"
)

// nixEnv is a private Nix configuration for one test: its own home, caches
// and settings, so Nix keeps nothing between tests.
type nixEnv struct {
	t   *testing.T
	dir string
	env []string
}

func newNix(t *testing.T) *nixEnv {
	t.Helper()
	if _, err := exec.LookPath("nix"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the Nix client is required in CI: apt-get install nix-bin")
		}
		t.Skip("the Nix client is not installed (apt-get install nix-bin); skipping")
	}
	dir := tempDir(t)
	for _, d := range []string{"home", "xdg", "conf"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := "experimental-features = nix-command\nbuild-users-group =\nsandbox = false\n" +
		"sandbox-paths = /bin /lib /lib64 /usr\nsubstituters =\n"
	if err := os.WriteFile(filepath.Join(dir, "conf", "nix.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "HOME="+filepath.Join(dir, "home"), "XDG_CACHE_HOME="+filepath.Join(dir, "xdg"),
		"NIX_CONF_DIR="+filepath.Join(dir, "conf"))
	return &nixEnv{t: t, dir: dir, env: env}
}

// run runs a Nix command and returns its standard output and error.
func (n *nixEnv) run(args ...string) (string, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = n.env
	cmd.Dir = n.dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

func (n *nixEnv) must(args ...string) string {
	n.t.Helper()
	out, err := n.run(args...)
	if err != nil {
		n.t.Fatal(err)
	}
	return out
}

// graph is a small closure of input-addressed paths: c refers to a and b, b
// to a. d is never uploaded.
const graph = `
let
  mk = name: script: derivation { inherit name; system = "x86_64-linux"; builder = "/bin/sh"; args = ["-c" script]; };
  a = mk "a" "echo a > $out";
  b = mk "b" "echo ${a} > $out";
  c = mk "c" "echo ${a} ${b} > $out";
  d = mk "d" "echo ${c} d > $out";
in { inherit a b c d; }
`

// build builds attr of graph into the store root r1 and returns its path.
func (n *nixEnv) build(attr string) string {
	n.t.Helper()
	if err := os.WriteFile(filepath.Join(n.dir, "graph.nix"), []byte(graph), 0o644); err != nil {
		n.t.Fatal(err)
	}
	out := n.must("nix-build", "--store", n.root("r1"), "graph.nix", "-A", attr, "--no-out-link")
	return strings.TrimSpace(out)
}

func (n *nixEnv) root(name string) string { return "local?root=" + filepath.Join(n.dir, name) }

// TestDev_NixCopyThroughEdge is the quick start: narthex dev, then the real
// Nix client uploads to the origin and substitutes from an edge.
func TestDev_NixCopyThroughEdge(t *testing.T) {
	n := newNix(t)
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

	c := n.build("c")
	d := n.build("d")
	closure := strings.Fields(n.must("nix-store", "--store", n.root("r1"), "-qR", c))
	if len(closure) != 3 {
		t.Fatalf("closure of c = %v, want 3 paths", closure)
	}
	if _, err := n.run("nix", "copy", "--store", n.root("r1"), "--to", origin, c); err == nil {
		t.Fatal("upload without credentials succeeded")
	}
	n.must("nix", "copy", "--store", n.root("r1"), "--option", "netrc-file", filepath.Join(dir, "netrc"), "--to", origin, c)

	// Edge 2 serves the closure, signed by the cache's key.
	var copyErr error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		_, copyErr = n.run("nix", "copy", "--option", "require-sigs", "true",
			"--option", "trusted-public-keys", string(pub), "--option", "narinfo-cache-negative-ttl", "0",
			"--from", edge2, "--to", n.root("r2"), c)
		if copyErr == nil {
			break
		}
	}
	if copyErr != nil {
		t.Fatal(copyErr)
	}
	for _, p := range closure {
		if _, err := os.Stat(filepath.Join(n.dir, "r2", p)); err != nil {
			t.Errorf("%s not substituted: %v", p, err)
		}
	}
	got := strings.Fields(n.must("nix", "path-info", "--store", edge1, "-r", c))
	slices.Sort(got)
	slices.Sort(closure)
	if !slices.Equal(got, closure) {
		t.Errorf("path-info -r on edge 1 = %v, want %v", got, closure)
	}
	if _, err := n.run("nix", "path-info", "--store", edge1, d); err == nil {
		t.Errorf("path-info of never-uploaded %s succeeded on the edge", d)
	}

	// A client that trusts another key refuses the edge's paths.
	_, other, err := narinfo.GenerateKey("narthex-dev-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.run("nix", "copy", "--option", "require-sigs", "true", "--option", "trusted-public-keys", other.String(),
		"--from", edge2, "--to", n.root("r3"), c); err == nil {
		t.Error("copy with a wrong trusted key succeeded")
	}

	// Stopping narthex dev stops PostgreSQL; running it again keeps the data.
	dev.stop(t)
	if out, _ := exec.Command("pgrep", "-f", "postgres -D "+dir).Output(); len(out) > 0 {
		t.Fatalf("postgres still running after narthex dev stopped: %s", out)
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
