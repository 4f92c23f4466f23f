package importer_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/narthex-cache/narthex/importer"
	"github.com/narthex-cache/narthex/internal/nixtest"
	"github.com/narthex-cache/narthex/narinfo"
)

// TestRun_NixCopyFileCache imports a cache the real Nix client wrote with
// nix copy --to file://, from the directory and over HTTP, and substitutes
// every path back from the origin with nix copy --from, trusting only the
// origin's key.
func TestRun_NixCopyFileCache(t *testing.T) {
	t.Parallel()
	n := nixtest.New(t)
	d := n.Build("d")
	closure := n.Closure(d)
	if len(closure) != 4 {
		t.Fatalf("closure of %s = %q, want 4 paths", d, closure)
	}
	dir := filepath.Join(n.Dir, "cache")
	n.Must("nix", "copy", "--store", n.Store("r1"), "--to", "file://"+dir, d)

	for _, source := range []string{"file", "http"} {
		t.Run(source, func(t *testing.T) {
			o := newOrigin(t, narinfo.NixStoreDir)
			cfg := o.config("file://" + dir)
			if source == "http" {
				ts := httptest.NewServer(http.FileServer(http.Dir(dir)))
				t.Cleanup(ts.Close)
				cfg = o.config(ts.URL, d)
			}
			sum, err := importer.Run(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkSummary(t, sum, 4, 0)
			for _, p := range closure {
				hash, _, err := narinfo.ParseStorePath(narinfo.NixStoreDir, p)
				if err != nil {
					t.Fatal(err)
				}
				text, err := os.ReadFile(filepath.Join(dir, hash+".narinfo"))
				if err != nil {
					t.Fatal(err)
				}
				if status, body := o.get(hash + ".narinfo"); status != http.StatusOK || string(body) != o.signed(text) {
					t.Errorf("%s.narinfo: %d %q, want the source's text with the origin's Sig:\n%s", hash, status, body, o.signed(text))
				}
			}

			c := n.FreshCache()
			r2 := "r2-" + source
			c.Must("nix", "copy", "--option", "require-sigs", "true",
				"--option", "trusted-public-keys", o.key.Public().String(),
				"--from", o.url, "--to", c.Store(r2), d)
			for _, p := range closure {
				if _, err := os.Stat(filepath.Join(c.Dir, r2, p)); err != nil {
					t.Errorf("%s not substituted: %v", p, err)
				}
			}
		})
	}
}
