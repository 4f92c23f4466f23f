package stores

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// files lists the regular files under dir as slash paths, temporary files
// included.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func digest(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func TestOpen_CreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(l.Dir()); err != nil || !fi.IsDir() {
		t.Fatalf("store directory: %v", err)
	}
	if _, err := Open(""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
}

func TestLocal_PutOpenStatDelete(t *testing.T) {
	ctx := t.Context()
	l, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("some nar bytes")
	const key = "nar/deep/x.nar.xz"

	size, sum, err := l.Put(ctx, key, bytes.NewReader(body), digest(body))
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len(body)) || !bytes.Equal(sum, digest(body)) {
		t.Errorf("Put = %d, %x; want %d, %x", size, sum, len(body), digest(body))
	}
	fi, err := os.Stat(filepath.Join(l.Dir(), "nar", "deep", "x.nar.xz"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", fi.Mode().Perm())
	}

	n, err := l.Stat(ctx, key)
	if err != nil || n != int64(len(body)) {
		t.Errorf("Stat = %d, %v; want %d", n, err, len(body))
	}
	rc, n, err := l.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, body) || n != int64(len(body)) {
		t.Errorf("Open read %q (size %d), %v; want %q", got, n, err, body)
	}

	if got, n, err := l.Sum(ctx, key); err != nil || !bytes.Equal(got, digest(body)) || n != int64(len(body)) {
		t.Errorf("Sum = %x, %d, %v; want %x, %d", got, n, err, digest(body), len(body))
	}
	if _, _, err := l.Sum(ctx, "nar/absent.nar"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Sum of a missing key = %v, want fs.ErrNotExist", err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := l.Sum(done, key); !errors.Is(err, context.Canceled) {
		t.Errorf("Sum after its context ended = %v, want context.Canceled", err)
	}

	// Without an expected digest, Put stores whatever it reads.
	if _, _, err := l.Put(ctx, key, strings.NewReader("other"), nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := l.Stat(ctx, key); n != 5 {
		t.Errorf("after overwrite size = %d, want 5", n)
	}

	if err := l.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Stat(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat after Delete = %v, want ErrNotExist", err)
	}
	if _, _, err := l.Open(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open after Delete = %v, want ErrNotExist", err)
	}
	if err := l.Delete(ctx, key); err != nil {
		t.Errorf("second Delete = %v, want nil", err)
	}
	// A directory is not an object.
	if _, err := l.Stat(ctx, "nar/deep"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(directory) = %v, want ErrNotExist", err)
	}
	if _, _, err := l.Open(ctx, "nar/deep"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(directory) = %v, want ErrNotExist", err)
	}
}

// failingReader returns some bytes and then an error.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestLocal_PutRefusesToCommit(t *testing.T) {
	old := []byte("old content")
	errBroken := errors.New("connection reset")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		r       io.Reader
		want    []byte
		wantErr error
	}{
		{"digest mismatch", context.Background(), strings.NewReader("new content"), digest([]byte("something else")), ErrDigestMismatch},
		{"reader fails", context.Background(), &failingReader{data: []byte("new"), err: errBroken}, nil, errBroken},
		{"context done", canceled, strings.NewReader("new content"), nil, context.Canceled},
		{"short digest", context.Background(), strings.NewReader("new content"), []byte{1, 2, 3}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			const key = "nar/x.nar"
			if _, _, err := l.Put(t.Context(), key, bytes.NewReader(old), nil); err != nil {
				t.Fatal(err)
			}
			_, _, err = l.Put(tt.ctx, key, tt.r, tt.want)
			if err == nil {
				t.Fatal("Put succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Put = %v, want %v", err, tt.wantErr)
			}
			if got := files(t, l.Dir()); !slices.Equal(got, []string{key}) {
				t.Errorf("files = %q, want only %q", got, key)
			}
			rc, _, err := l.Open(t.Context(), key)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if got, _ := io.ReadAll(rc); !bytes.Equal(got, old) {
				t.Errorf("content = %q, want %q", got, old)
			}
		})
	}
}

func TestLocal_PutDigestMismatchReportsDigest(t *testing.T) {
	l, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("abc")
	size, sum, err := l.Put(t.Context(), "nar/y.nar", bytes.NewReader(body), digest([]byte("x")))
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("Put = %v, want ErrDigestMismatch", err)
	}
	if size != 3 || !bytes.Equal(sum, digest(body)) {
		t.Errorf("Put = %d, %x; want 3, %x", size, sum, digest(body))
	}
	if got := files(t, l.Dir()); len(got) != 0 {
		t.Errorf("files = %q, want none", got)
	}
}

func TestLocal_InvalidKeys(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	l, err := Open(filepath.Join(root, "store"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"../escape", "/etc/passwd", "nar/../../escape", ""} {
		if _, _, err := l.Put(ctx, key, strings.NewReader("x"), nil); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, _, err := l.Open(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Open(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := l.Stat(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := l.Delete(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	if got := files(t, root); len(got) != 0 {
		t.Errorf("files = %q, want none", got)
	}
}

func TestLocal_ConcurrentPuts(t *testing.T) {
	l, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const key = "nar/same.nar"
	bodies := make([][]byte, 8)
	for i := range bodies {
		bodies[i] = bytes.Repeat([]byte{byte('a' + i)}, 1<<16)
	}
	var wg sync.WaitGroup
	for _, b := range bodies {
		wg.Go(func() {
			if _, _, err := l.Put(t.Context(), key, bytes.NewReader(b), digest(b)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	rc, _, err := l.Open(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, _ := io.ReadAll(rc)
	if !slices.ContainsFunc(bodies, func(b []byte) bool { return bytes.Equal(b, got) }) {
		t.Errorf("object is not one of the bodies put (%d bytes)", len(got))
	}
	if got := files(t, l.Dir()); !slices.Equal(got, []string{key}) {
		t.Errorf("files = %q, want only %q", got, key)
	}
}
