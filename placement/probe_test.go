package placement_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/narthex-cache/narthex/placement"
	"github.com/narthex-cache/narthex/stores"
)

// entries lists the files under dir, relative to it.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestProbe_WritableLocal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	local, err := stores.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := placement.Probe(t.Context(), localStore("disk"), local); err != nil {
		t.Fatalf("Probe = %v", err)
	}
	if left := entries(t, dir); len(left) != 0 {
		t.Errorf("the probe left %q", left)
	}
}

func TestProbe_UnwritableLocal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	local, err := stores.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A read-only directory stops everyone but root; a file where the
	// probe's folder would be stops root too.
	if err := os.WriteFile(filepath.Join(dir, "narthex-probe"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	err = placement.Probe(t.Context(), localStore("disk"), local)
	if !errors.Is(err, placement.ErrUnreachable) || !strings.Contains(err.Error(), `store "disk" unreachable: write probe`) {
		t.Fatalf("Probe = %v, want ErrUnreachable on the write", err)
	}
	// A read-only store is not written to, so the same directory does.
	ro := localStore("disk")
	ro.ReadOnly = true
	if err := placement.Probe(t.Context(), ro, local); err != nil {
		t.Errorf("read-only Probe = %v", err)
	}
}

func TestProbe_HTTPNeedsCacheInfo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	local, err := stores.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	mirror := placement.Store{Name: "mirror", Kind: "http", BaseURL: "https://cache.example"}
	if err := placement.Probe(t.Context(), mirror, local); !errors.Is(err, placement.ErrUnreachable) || !strings.Contains(err.Error(), "not a binary cache") {
		t.Errorf("Probe without nix-cache-info = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nix-cache-info"), []byte("StoreDir: /nix/store\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := placement.Probe(t.Context(), mirror, local); err != nil {
		t.Errorf("Probe with nix-cache-info = %v", err)
	}
}

// objects is an Objects whose methods are its fields.
type objects struct {
	put    func(ctx context.Context, key string, r io.Reader, want []byte) (int64, []byte, error)
	open   func(ctx context.Context, key string) (io.ReadCloser, int64, error)
	stat   func(ctx context.Context, key string) (int64, error)
	delete func(ctx context.Context, key string) error
}

func (o objects) Put(ctx context.Context, key string, r io.Reader, want []byte) (int64, []byte, error) {
	return o.put(ctx, key, r, want)
}
func (o objects) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	return o.open(ctx, key)
}
func (o objects) Stat(ctx context.Context, key string) (int64, error) { return o.stat(ctx, key) }
func (o objects) Delete(ctx context.Context, key string) error        { return o.delete(ctx, key) }

// TestProbe_ReadBackDiffers checks that a store that accepts writes but
// gives back other bytes is refused, and that the probe is deleted anyway.
func TestProbe_ReadBackDiffers(t *testing.T) {
	t.Parallel()
	var deleted string
	o := objects{
		put: func(_ context.Context, _ string, r io.Reader, _ []byte) (int64, []byte, error) {
			n, err := io.Copy(io.Discard, r)
			return n, nil, err
		},
		open: func(context.Context, string) (io.ReadCloser, int64, error) {
			return io.NopCloser(bytes.NewReader([]byte("something else"))), 14, nil
		},
		delete: func(_ context.Context, key string) error { deleted = key; return nil },
	}
	err := placement.Probe(t.Context(), localStore("disk"), o)
	if !errors.Is(err, placement.ErrUnreachable) || !strings.Contains(err.Error(), "differ") {
		t.Errorf("Probe = %v", err)
	}
	if !strings.HasPrefix(deleted, "narthex-probe/") {
		t.Errorf("deleted %q, want the probe", deleted)
	}
}
