package narinfo

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/internal/testutil"
)

// compressWith compresses data with the real program of a compression,
// as Guix's servers write such files.
func compressWith(t *testing.T, compression string, data []byte, args ...string) []byte {
	t.Helper()
	prog := map[string]string{"gzip": "gzip", "zstd": "zstd", "lzip": "lzip"}[compression]
	cmd := exec.Command(testutil.Tool(t, prog), append(args, "-c")...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", prog, err)
	}
	return out
}

// hashFile feeds file to a hasher in pieces of random sizes.
func hashFile(t *testing.T, compression string, file []byte) (string, uint64, error) {
	t.Helper()
	h, err := NewNarHasher(compression)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for len(file) > 0 {
		n := min(len(file), 1+rng.IntN(70000))
		if _, err := h.Write(file[:n]); err != nil {
			h.Abort()
			return "", 0, err
		}
		file = file[n:]
	}
	return h.Close()
}

func TestNarHasher(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	// Compressible, and large enough for several lzip members of 100 kB.
	var b strings.Builder
	for b.Len() < 600_000 {
		b.WriteString("nix-archive-1 (type regular contents ")
		b.WriteString(strings.Repeat(string(rune('a'+rng.IntN(26))), rng.IntN(200)))
	}
	nar := []byte(b.String())
	sum := sha256.Sum256(nar)
	wantHash, wantSize := "sha256:"+nixbase32.EncodeToString(sum[:]), uint64(len(nar))

	files := map[string][]byte{
		"none":         nar,
		"gzip":         compressWith(t, "gzip", nar, "-9"),
		"zstd":         compressWith(t, "zstd", nar, "-19", "-q"),
		"lzip":         compressWith(t, "lzip", nar, "-9"),
		"lzip members": compressWith(t, "lzip", nar, "-b", "100000"),
		"gzip members": append(compressWith(t, "gzip", nar[:1000]), compressWith(t, "gzip", nar[1000:])...),
		"zstd frames":  append(compressWith(t, "zstd", nar[:1000], "-q"), compressWith(t, "zstd", nar[1000:], "-q")...),
	}
	for name, file := range files {
		compression, _, _ := strings.Cut(name, " ")
		t.Run(name, func(t *testing.T) {
			hash, size, err := hashFile(t, compression, file)
			if err != nil || hash != wantHash || size != wantSize {
				t.Fatalf("NarHasher(%s) = %s, %d, %v, want %s, %d", compression, hash, size, err, wantHash, wantSize)
			}
		})
	}

	bad := map[string][]byte{
		"gzip truncated":       files["gzip"][:len(files["gzip"])/2],
		"gzip trailing bytes":  append(bytes.Clone(files["gzip"]), "garbage"...),
		"gzip of another kind": files["zstd"],
		"zstd truncated":       files["zstd"][:len(files["zstd"])-10],
		"zstd trailing bytes":  append(bytes.Clone(files["zstd"]), "garbage"...),
		"lzip truncated":       files["lzip"][:len(files["lzip"])-5],
		"lzip trailing bytes":  append(bytes.Clone(files["lzip"]), "garbage"...),
		"lzip of another kind": files["gzip"],
		"lzip empty":           {},
		"lzip bad crc":         flipByte(files["lzip"], len(files["lzip"])-18),
		"lzip damaged stream":  flipByte(files["lzip"], 200),
		"gzip damaged stream":  flipByte(files["gzip"], 200),
	}
	for name, file := range bad {
		compression, _, _ := strings.Cut(name, " ")
		t.Run(name, func(t *testing.T) {
			hash, _, err := hashFile(t, compression, file)
			if err == nil && hash == wantHash {
				t.Fatalf("NarHasher(%s) of a bad file gave the NAR's hash and no error", compression)
			}
			if err == nil {
				t.Fatalf("NarHasher(%s) of a bad file = %s, want an error", compression, hash)
			}
		})
	}

	if _, err := NewNarHasher("xz"); err == nil {
		t.Error("NewNarHasher(xz) works, want an error: it decompresses only what Guix writes")
	}
}

// TestNarHasher_Abort checks that an abandoned hasher ends its goroutine
// and that Close after a failed Write reports the failure.
func TestNarHasher_Abort(t *testing.T) {
	h, err := NewNarHasher("gzip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Write([]byte("not gzip at all, and long enough to be read")); err == nil {
		// The decoder may not have read it yet; the end says it.
		if _, _, err := h.Close(); err == nil {
			t.Fatal("Close of a file that is not gzip = nil error")
		}
	}
	if _, _, err := h.Close(); err == nil {
		t.Fatal("a second Close forgot the failure")
	}
	h, _ = NewNarHasher("none")
	h.Write([]byte("some"))
	h.Abort()
	if _, err := io.WriteString(h, "more"); err == nil {
		t.Fatal("Write after Abort = nil error")
	}
}

func flipByte(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x55
	return b
}
