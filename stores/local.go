package stores

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrDigestMismatch is returned by Put when the bytes read do not have the
// SHA-256 digest the caller expected. Nothing is committed.
var ErrDigestMismatch = errors.New("sha256 digest mismatch")

// Local is a store in a directory of the local file system. Its methods are
// safe for concurrent use; concurrent Puts of one key leave one complete
// object.
type Local struct {
	dir string
}

// Open opens the store rooted at dir, creating the directory when it does
// not exist.
func Open(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("open store: empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return &Local{dir: abs}, nil
}

// Dir returns the absolute path of the store's root directory.
func (l *Local) Dir() string { return l.dir }

// path returns the file name of key, which must be valid.
func (l *Local) path(key string) string {
	return filepath.Join(l.dir, filepath.FromSlash(key))
}

// Put reads r to its end into the object key and returns the number of
// bytes read and their SHA-256 digest. The bytes go to a temporary file next
// to the object, which is synced and renamed into place only when r ended
// cleanly, ctx is not done, and, when wantSHA256 is not nil, the digest
// equals it; the directory is synced after the rename. Otherwise the
// temporary file is removed and the object keeps what it held before. On
// ErrDigestMismatch size and sum describe the bytes that were read.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, wantSHA256 []byte) (size int64, sum []byte, err error) {
	if err := ValidKey(key); err != nil {
		return 0, nil, err
	}
	if wantSHA256 != nil && len(wantSHA256) != sha256.Size {
		return 0, nil, fmt.Errorf("put %s: expected digest has %d bytes, not %d", key, len(wantSHA256), sha256.Size)
	}
	final := l.path(key)
	dir := filepath.Dir(final)
	if err := l.mkdirAll(dir); err != nil {
		return 0, nil, fmt.Errorf("put %s: %w", key, err)
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return 0, nil, fmt.Errorf("put %s: %w", key, err)
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(f.Name())
		}
	}()

	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(f, h), contextReader{ctx: ctx, r: r})
	if err != nil {
		return size, nil, fmt.Errorf("put %s: %w", key, err)
	}
	sum = h.Sum(nil)
	if wantSHA256 != nil && !bytes.Equal(sum, wantSHA256) {
		return size, sum, fmt.Errorf("put %s: %w", key, ErrDigestMismatch)
	}
	if err := f.Chmod(0o644); err != nil {
		return size, sum, fmt.Errorf("put %s: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return size, sum, fmt.Errorf("put %s: sync: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return size, sum, fmt.Errorf("put %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return size, sum, fmt.Errorf("put %s: %w", key, err)
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return size, sum, fmt.Errorf("put %s: %w", key, err)
	}
	committed = true
	if err := syncDir(dir); err != nil {
		return size, sum, fmt.Errorf("put %s: %w", key, err)
	}
	return size, sum, nil
}

// Open opens the object key for reading and returns its size. A missing
// object gives an error matching fs.ErrNotExist.
func (l *Local) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := ValidKey(key); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(l.path(key))
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("open %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("open %s: %w", key, fs.ErrNotExist)
	}
	return f, fi.Size(), nil
}

// OpenRange opens n bytes of the object key from offset off (n < 0: to the
// end) and returns the size of the whole object. A range outside the object
// gives ErrRangeNotSatisfiable, a missing object fs.ErrNotExist.
func (l *Local) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	rc, size, err := l.Open(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	f := rc.(*os.File)
	n, err = checkRange(key, off, n, size)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return sectionReadCloser{io.NewSectionReader(f, off, n), f}, size, nil
}

// Stat returns the size of the object key. A missing object gives an error
// matching fs.ErrNotExist.
func (l *Local) Stat(ctx context.Context, key string) (int64, error) {
	if err := ValidKey(key); err != nil {
		return 0, err
	}
	fi, err := os.Stat(l.path(key))
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("stat %s: %w", key, fs.ErrNotExist)
	}
	return fi.Size(), nil
}

// Delete removes the object key and syncs its directory. Deleting a missing
// object is not an error, so an interrupted sweep can simply run again.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	p := l.path(key)
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// mkdirAll creates dir, which lies inside the store, and any missing parents,
// syncing the parent of each directory it creates so that the new entries
// survive a crash.
func (l *Local) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("mkdir %s: not a directory", dir)
		}
		return nil
	}
	if dir == l.dir {
		return os.MkdirAll(dir, 0o755)
	}
	parent := filepath.Dir(dir)
	if err := l.mkdirAll(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

// syncDir makes the entries of dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Sum reads the object key and returns its SHA-256 digest and size. It
// stops when ctx is done, so that hashing a large object does not hold up a
// stop; a missing key gives an error matching fs.ErrNotExist.
func (l *Local) Sum(ctx context.Context, key string) ([]byte, int64, error) {
	f, _, err := l.Open(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, contextReader{ctx: ctx, r: f})
	if err != nil {
		return nil, 0, fmt.Errorf("sum %s: %w", key, err)
	}
	return h.Sum(nil), n, nil
}

// contextReader stops reading once its context is done.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
