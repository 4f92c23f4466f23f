package origin

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/narthex-cache/narthex/narinfo"
)

// nixGraph is a small closure of input-addressed paths: b refers to a.
const nixGraph = `
let
  mk = name: script: derivation { inherit name; system = "x86_64-linux"; builder = "/bin/sh"; args = ["-c" script]; };
  a = mk "a" "echo a > $out";
  b = mk "b" "echo ${a} > $out";
in { inherit a b; }
`

// nixClient runs the real Nix client with a configuration, home and cache
// of its own, in dir.
type nixClient struct {
	t   *testing.T
	dir string
	env []string
}

func newNixClient(t *testing.T) *nixClient {
	t.Helper()
	if _, err := exec.LookPath("nix"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the Nix client is required in CI: apt-get install nix-bin")
		}
		t.Skip("the Nix client is not installed (apt-get install nix-bin); skipping")
	}
	dir := t.TempDir()
	// Nix leaves its store read-only; make it removable again.
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	conf := "experimental-features = nix-command\nbuild-users-group =\nsandbox = false\n" +
		"sandbox-paths = /bin /lib /lib64 /usr\nsubstituters =\n"
	for name, content := range map[string]string{"conf/nix.conf": conf, "graph.nix": nixGraph, "home/.keep": "", "xdg/.keep": ""} {
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
	return &nixClient{t: t, dir: dir, env: env}
}

// run runs a Nix command in the client's directory.
func (n *nixClient) run(args ...string) (string, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env, cmd.Dir = n.env, n.dir
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out.String(), nil
}

// freshCache returns the client with an empty narinfo cache
// ($XDG_CACHE_HOME/nix/binary-cache-v6.sqlite).
func (n *nixClient) freshCache() *nixClient {
	dir, err := os.MkdirTemp(n.dir, "xdg-")
	if err != nil {
		n.t.Fatal(err)
	}
	c := *n
	c.env = append(slices.Clone(n.env), "XDG_CACHE_HOME="+dir)
	return &c
}

// store is the Nix store URL of a chroot store named name in the client's
// directory.
func (n *nixClient) store(name string) string { return "local?root=" + filepath.Join(n.dir, name) }

// TestServer_NixCopy uploads a closure with `nix copy --to` and substitutes
// it back with `nix copy --from` under require-sigs, trusting only the
// origin's key.
func TestServer_NixCopy(t *testing.T) {
	n := newNixClient(t)
	h := newHarness(t, func(c *Config) { c.MaxNarSize = 1 << 20 })

	out, err := n.run("nix-build", "--store", n.store("r1"), "graph.nix", "-A", "b", "--no-out-link")
	if err != nil {
		t.Fatal(err)
	}
	b := strings.TrimSpace(out)
	out, err = n.run("nix-store", "--store", n.store("r1"), "-qR", b)
	if err != nil {
		t.Fatal(err)
	}
	closure := strings.Fields(out)
	if len(closure) != 2 {
		t.Fatalf("closure of %s = %q, want 2 paths", b, closure)
	}

	// Without credentials nothing is uploaded.
	before := h.snapshot()
	if _, err := n.run("nix", "copy", "--store", n.store("r1"), "--to", h.ts.URL, b); err == nil {
		t.Fatal("nix copy without credentials succeeded")
	}
	h.unchanged(before)

	netrc := filepath.Join(n.dir, "netrc")
	host := strings.Split(h.ts.Listener.Addr().String(), ":")[0]
	if err := os.WriteFile(netrc, []byte("machine "+host+"\nlogin nix\npassword "+h.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := n.run("nix", "copy", "--store", n.store("r1"), "--option", "netrc-file", netrc, "--to", h.ts.URL, b); err != nil {
		t.Fatal(err)
	}
	for _, p := range closure {
		hash, _, err := narinfo.ParseStorePath(narinfo.NixStoreDir, p)
		if err != nil {
			t.Fatal(err)
		}
		if r := h.do(http.MethodGet, "/"+hash+".narinfo", nil); r.status != http.StatusOK {
			t.Errorf("%s not uploaded: %d %q", p, r.status, r.body)
		}
	}

	// The origin's signature is what makes the paths acceptable. The
	// uploading client has cached the narinfos it wrote, without that
	// signature, so the download runs with a fresh cache.
	n = n.freshCache()
	_, err = n.run("nix", "copy", "--option", "require-sigs", "true",
		"--option", "trusted-public-keys", h.key.Public().String(),
		"--from", h.ts.URL, "--to", n.store("r2"), b)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range closure {
		if _, err := os.Stat(filepath.Join(n.dir, "r2", p)); err != nil {
			t.Errorf("%s not substituted: %v", p, err)
		}
	}
	_, stranger := mustKey(t, "stranger-1")
	if _, err := n.run("nix", "copy", "--option", "require-sigs", "true",
		"--option", "trusted-public-keys", stranger.String(),
		"--from", h.ts.URL, "--to", n.store("r3"), b); err == nil {
		t.Error("nix copy trusting another key succeeded")
	}
}
