// Package nixtest drives the real Nix client (Debian's nix-bin) in tests,
// each with a configuration, home, cache and stores of its own. It never
// touches the machine's own Nix store or settings.
package nixtest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Graph is a small closure of input-addressed paths: b refers to a, c to a
// and b, d to c. It is written to graph.nix in the client's directory.
const Graph = `
let
  mk = name: script: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" script]; };
  a = mk "a" "echo a > $out";
  b = mk "b" "echo ${a} > $out";
  c = mk "c" "echo ${a} ${b} > $out";
  d = mk "d" "echo ${c} d > $out";
in { inherit a b c d; }
`

// config lets Nix build as root without a daemon, into chroot stores.
const config = "experimental-features = nix-command\nbuild-users-group =\nsandbox = false\n" +
	"sandbox-paths = /bin /lib /lib64 /usr\nsubstituters =\n"

// Client runs Nix commands in Dir.
type Client struct {
	t   testing.TB
	Dir string
	env []string
}

// New makes a client. Without Nix installed the test fails under CI and is
// skipped elsewhere.
func New(t testing.TB) *Client {
	t.Helper()
	if _, err := exec.LookPath("nix"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the Nix client is required in CI: apt-get install nix-bin")
		}
		t.Skip("the Nix client is not installed (apt-get install nix-bin); skipping")
	}
	dir, err := os.MkdirTemp("", "narthex-nix-")
	if err != nil {
		t.Fatal(err)
	}
	// Nix leaves its stores read-only; make them removable again.
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		os.RemoveAll(dir)
	})
	for name, content := range map[string]string{"conf/nix.conf": config, "graph.nix": Graph, "home/.keep": "", "xdg/.keep": ""} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "HOME="+filepath.Join(dir, "home"),
		"XDG_CACHE_HOME="+filepath.Join(dir, "xdg"), "NIX_CONF_DIR="+filepath.Join(dir, "conf"))
	return &Client{t: t, Dir: dir, env: env}
}

// Run runs a Nix command in the client's directory and returns its output.
func (c *Client) Run(args ...string) (string, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env, cmd.Dir = c.env, c.Dir
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out.String(), nil
}

// Must is Run, failing the test on error.
func (c *Client) Must(args ...string) string {
	c.t.Helper()
	out, err := c.Run(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// Store is the URL of a chroot store named name in the client's directory.
func (c *Client) Store(name string) string { return "local?root=" + filepath.Join(c.Dir, name) }

// Build builds attr of Graph into the store "r1" and returns its path.
func (c *Client) Build(attr string) string {
	c.t.Helper()
	return strings.TrimSpace(c.Must("nix-build", "--store", c.Store("r1"), "graph.nix", "-A", attr, "--no-out-link"))
}

// Closure returns the sorted closure of path in the store "r1".
func (c *Client) Closure(path string) []string {
	c.t.Helper()
	paths := strings.Fields(c.Must("nix-store", "--store", c.Store("r1"), "-qR", path))
	slices.Sort(paths)
	return paths
}

// FreshCache returns the client with an empty narinfo cache
// ($XDG_CACHE_HOME/nix/binary-cache-v6.sqlite): Nix keeps what it uploaded
// and what it looked up there, misses included.
func (c *Client) FreshCache() *Client {
	dir, err := os.MkdirTemp(c.Dir, "xdg-")
	if err != nil {
		c.t.Fatal(err)
	}
	f := *c
	f.env = append(slices.Clone(c.env), "XDG_CACHE_HOME="+dir)
	return &f
}
