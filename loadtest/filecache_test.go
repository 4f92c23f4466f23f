package loadtest_test

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/nar"
	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/loadtest"
	"github.com/narthex-cache/narthex/narinfo"
)

// A synthetic file:// cache is one Nix reads: every narinfo parses, names a
// NAR whose hash and size are what it says and which unpacks to one file
// of the size asked, and references only the path before it in its chain;
// another seed makes other paths.
func TestFileCache(t *testing.T) {
	dir := t.TempDir()
	res, err := loadtest.FileCache(loadtest.FileCacheConfig{Dir: dir, Count: 25, Size: 3000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.ReadFile(filepath.Join(dir, "nix-cache-info")); err != nil || !strings.Contains(string(info), "StoreDir: /nix/store\n") {
		t.Fatalf("nix-cache-info: %q, %v", info, err)
	}
	var prev string
	for i, p := range res.StorePaths {
		base := strings.TrimPrefix(p, "/nix/store/")
		text, err := os.ReadFile(filepath.Join(dir, base[:32]+".narinfo"))
		if err != nil {
			t.Fatal(err)
		}
		ni, err := narinfo.Parse(text, narinfo.NixStoreDir)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		f := ni.Files[0]
		b, err := os.ReadFile(filepath.Join(dir, f.URL))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		h := "sha256:" + nixbase32.EncodeToString(sum[:])
		if ni.StorePath != p || f.FileHash != h || ni.NarHash != h || f.FileSize != uint64(len(b)) || ni.NarSize != uint64(len(b)) ||
			f.URL != "nar/"+strings.TrimPrefix(h, "sha256:")+".nar" || f.Compression != "none" {
			t.Errorf("%s: narinfo %+v for a NAR of %d bytes hashing to %s", p, ni, len(b), h)
		}
		r, err := nar.NewReader(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		if hdr, err := r.Next(); err != nil || hdr.Type != nar.TypeRegular || hdr.Size != 3000 {
			t.Errorf("%s: NAR entry %+v, %v", p, hdr, err)
		}
		want := []string(nil)
		if i%10 != 0 {
			want = []string{prev}
		}
		if strings.Join(ni.References, " ") != strings.Join(want, " ") {
			t.Errorf("%s references %v, want %v", p, ni.References, want)
		}
		prev = base
	}
	other, err := loadtest.FileCache(loadtest.FileCacheConfig{Dir: t.TempDir(), Count: 25, Size: 3000, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range other.StorePaths {
		if other.StorePaths[i] == res.StorePaths[i] {
			t.Errorf("seeds 1 and 2 both make %s", res.StorePaths[i])
		}
	}
	if _, err := loadtest.FileCache(loadtest.FileCacheConfig{Dir: dir, Count: 0}); err == nil || !strings.Contains(err.Error(), "Count") {
		t.Errorf("a cache of no paths: %v", err)
	}
}
