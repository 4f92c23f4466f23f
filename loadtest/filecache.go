package loadtest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/nix-community/go-nix/pkg/nar"
	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/narinfo"
)

// MaxFileCacheCount bounds the paths of a synthetic file:// cache.
const MaxFileCacheCount = 1_000_000

// FileCacheConfig describes a synthetic binary cache directory, as `nix
// copy --to file://DIR` writes one.
type FileCacheConfig struct {
	// Dir is the cache's directory, created when absent. Required.
	Dir string
	// Count is the number of store paths, 1 to MaxFileCacheCount.
	Count int
	// Size is the bytes of the one regular file each path holds; its NAR
	// is some 100 bytes more. Up to 64 MiB.
	Size int
	// Seed chooses the paths and their bytes: two seeds make caches with
	// no path in common.
	Seed int64
}

// Validate names the first unusable field.
func (c FileCacheConfig) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("filecache: Dir is empty")
	case c.Count < 1 || c.Count > MaxFileCacheCount:
		return fmt.Errorf("filecache: Count %d is outside 1-%d", c.Count, MaxFileCacheCount)
	case c.Size < 0 || c.Size > 64<<20:
		return fmt.Errorf("filecache: Size %d is outside 0-64 MiB", c.Size)
	}
	return nil
}

// FileCacheResult is what FileCache wrote.
type FileCacheResult struct {
	Dir      string        `json:"dir"`
	Paths    int           `json:"paths"`
	NarBytes int64         `json:"nar_bytes"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	// StorePaths are the paths, for a client that copies them by name;
	// left out of the JSON.
	StorePaths []string `json:"-"`
}

// FileCache writes a cache of cfg.Count paths into cfg.Dir: nix-cache-info,
// a narinfo per path and its NAR, uncompressed (nar/<sha256>.nar), with
// every hash and size right, so that importers and Nix accept it. Paths
// come in chains of ten, each referencing the one before, as closures do.
// Nothing is signed.
func FileCache(cfg FileCacheConfig) (*FileCacheResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "nar"), 0o755); err != nil {
		return nil, fmt.Errorf("filecache: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, "nix-cache-info"), []byte("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 50\n"), 0o644); err != nil {
		return nil, fmt.Errorf("filecache: %w", err)
	}
	var seed [32]byte
	copy(seed[:], fmt.Sprintf("narthex filecache %d", cfg.Seed))
	src := rand.NewChaCha8(seed)
	content := make([]byte, cfg.Size)
	res := &FileCacheResult{Dir: cfg.Dir, Paths: cfg.Count}
	var prev string
	var nb bytes.Buffer
	for i := range cfg.Count {
		src.Read(content)
		nb.Reset()
		w, err := nar.NewWriter(&nb)
		if err == nil {
			err = w.WriteHeader(&nar.Header{Path: "/", Type: nar.TypeRegular, Size: int64(len(content))})
		}
		if err == nil {
			_, err = w.Write(content)
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("filecache: nar: %w", err)
		}
		sum := sha256.Sum256(nb.Bytes())
		hash := "sha256:" + nixbase32.EncodeToString(sum[:])
		url := "nar/" + nixbase32.EncodeToString(sum[:]) + ".nar"
		base := hashOf(domainHit, cfg.Seed+1_000_000, int64(i)) + fmt.Sprintf("-bench-file-%d", i)
		ni := &narinfo.NarInfo{
			StorePath: "/nix/store/" + base,
			Files:     []narinfo.File{{URL: url, Compression: "none", FileHash: hash, FileSize: uint64(nb.Len())}},
			NarHash:   hash,
			NarSize:   uint64(nb.Len()),
			System:    "x86_64-linux",
		}
		if i%10 != 0 {
			ni.References = []string{prev}
		}
		if err := os.WriteFile(filepath.Join(cfg.Dir, filepath.FromSlash(url)), nb.Bytes(), 0o644); err != nil {
			return nil, fmt.Errorf("filecache: %w", err)
		}
		if err := os.WriteFile(filepath.Join(cfg.Dir, base[:HashLen]+".narinfo"), ni.Render(), 0o644); err != nil {
			return nil, fmt.Errorf("filecache: %w", err)
		}
		res.NarBytes += int64(nb.Len())
		res.StorePaths = append(res.StorePaths, ni.StorePath)
		prev = base
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// WriteTable writes the result as a table.
func (r *FileCacheResult) WriteTable(w io.Writer) error {
	t := newTable("file:// cache " + r.Dir)
	t.add("paths", fmtInt(int64(r.Paths)))
	t.add("NAR bytes", fmtBytes(r.NarBytes))
	t.add("took", fmtDuration(r.Elapsed))
	return t.write(w)
}
