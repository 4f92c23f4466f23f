package origin

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/narthex-cache/narthex/internal/nixtest"
	"github.com/narthex-cache/narthex/narinfo"
)

// TestServer_NixCopy uploads a closure with `nix copy --to` and substitutes
// it back with `nix copy --from` under require-sigs, trusting only the
// origin's key.
func TestServer_NixCopy(t *testing.T) {
	t.Parallel()
	n := nixtest.New(t)
	h := newHarness(t, func(c *Config) { c.MaxNarSize = 1 << 20 })

	b := n.Build("b")
	closure := n.Closure(b)
	if len(closure) != 2 {
		t.Fatalf("closure of %s = %q, want 2 paths", b, closure)
	}

	// Without credentials nothing is uploaded.
	before := h.snapshot()
	if _, err := n.Run("nix", "copy", "--store", n.Store("r1"), "--to", h.ts.URL, b); err == nil {
		t.Fatal("nix copy without credentials succeeded")
	}
	h.unchanged(before)

	netrc := filepath.Join(n.Dir, "netrc")
	host := strings.Split(h.ts.Listener.Addr().String(), ":")[0]
	if err := os.WriteFile(netrc, []byte("machine "+host+"\nlogin nix\npassword "+h.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Run("nix", "copy", "--store", n.Store("r1"), "--option", "netrc-file", netrc, "--to", h.ts.URL, b); err != nil {
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
	n = n.FreshCache()
	_, err := n.Run("nix", "copy", "--option", "require-sigs", "true",
		"--option", "trusted-public-keys", h.key.Public().String(),
		"--from", h.ts.URL, "--to", n.Store("r2"), b)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range closure {
		if _, err := os.Stat(filepath.Join(n.Dir, "r2", p)); err != nil {
			t.Errorf("%s not substituted: %v", p, err)
		}
	}
	_, stranger := mustKey(t, "stranger-1")
	if _, err := n.Run("nix", "copy", "--option", "require-sigs", "true",
		"--option", "trusted-public-keys", stranger.String(),
		"--from", h.ts.URL, "--to", n.Store("r3"), b); err == nil {
		t.Error("nix copy trusting another key succeeded")
	}
}

// TestServer_NixCopyWithoutSigningKey uploads with `nix copy --to` to an
// origin that has no signing key: it stores and serves the narinfos as they
// came, unsigned, and a client that does not require signatures
// substitutes them.
func TestServer_NixCopyWithoutSigningKey(t *testing.T) {
	t.Parallel()
	n := nixtest.New(t)
	h := newHarness(t, func(c *Config) { c.SigningKeys = nil; c.MaxNarSize = 1 << 20 })

	b := n.Build("b")
	netrc := filepath.Join(n.Dir, "netrc")
	host := strings.Split(h.ts.Listener.Addr().String(), ":")[0]
	if err := os.WriteFile(netrc, []byte("machine "+host+"\nlogin nix\npassword "+h.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n.Must("nix", "copy", "--store", n.Store("r1"), "--option", "netrc-file", netrc, "--to", h.ts.URL, b)
	closure := n.Closure(b)
	for _, p := range closure {
		hash, _, err := narinfo.ParseStorePath(narinfo.NixStoreDir, p)
		if err != nil {
			t.Fatal(err)
		}
		r := h.do(http.MethodGet, "/"+hash+".narinfo", nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s not uploaded: %d %q", p, r.status, r.body)
		}
		if strings.Contains(r.body, "\nSig: ") {
			t.Errorf("origin without signing keys served a signed narinfo:\n%s", r.body)
		}
	}

	n = n.FreshCache()
	n.Must("nix", "copy", "--option", "require-sigs", "false", "--from", h.ts.URL, "--to", n.Store("r2"), b)
	for _, p := range closure {
		if _, err := os.Stat(filepath.Join(n.Dir, "r2", p)); err != nil {
			t.Errorf("%s not substituted: %v", p, err)
		}
	}
}
