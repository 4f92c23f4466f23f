package narinfo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// survives Render: Parse(Render(n)) gives n back, apart from what Render
// documents it changes (an empty Compression becomes "none", a Guix
// Signature is dropped).
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.narinfo"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(minimal))
	f.Add([]byte(minimal + "References: \nDeriver: unknown-deriver\nSignature: 1;h;c2ln\nURL: x\n"))

	f.Fuzz(func(t *testing.T, text []byte) {
		n, err := Parse(text, NixStoreDir)
		if err != nil {
			return
		}
		_ = n.Fingerprint(NixStoreDir)

		want := *n
		want.GuixSignature = ""
		want.Files = append([]File(nil), n.Files...)
		for i := range want.Files {
			if want.Files[i].Compression == "" {
				want.Files[i].Compression = "none"
			}
		}
		rendered := n.Render()
		got, err := Parse(rendered, NixStoreDir)
		if err != nil {
			t.Fatalf("Parse(Render(n)): %v\nrendered:\n%s", err, rendered)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("Parse(Render(n)) mismatch (-want +got):\n%s", diff)
		}
	})
}
