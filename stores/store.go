package stores

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrReadOnly is returned by Put and Delete of a kind that is never written
// to, such as an HTTP mirror.
var ErrReadOnly = errors.New("store is read-only")

// ErrRangeNotSatisfiable is returned by OpenRange for a range that does not
// lie within the object.
var ErrRangeNotSatisfiable = errors.New("range not satisfiable")

// Store is the method set every kind of store has. The conformance tests
// hold each kind to it and helpers such as Sum take it; a caller that needs
// less declares its own smaller interface.
type Store interface {
	// Put reads r to its end into the object key and returns the number of
	// bytes read and their SHA-256 digest. The object becomes visible only
	// complete: when r fails, ctx ends, or wantSHA256 is given and differs
	// (ErrDigestMismatch), the key keeps what it held before.
	Put(ctx context.Context, key string, r io.Reader, wantSHA256 []byte) (size int64, sum []byte, err error)
	// Open opens the object key and returns its size; a missing object gives
	// an error matching fs.ErrNotExist.
	Open(ctx context.Context, key string) (io.ReadCloser, int64, error)
	// OpenRange opens n bytes of the object key from offset off (n < 0: to
	// the end) and returns the size of the whole object. A range that does
	// not lie within the object gives ErrRangeNotSatisfiable.
	OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error)
	// Stat returns the size of the object key.
	Stat(ctx context.Context, key string) (int64, error)
	// Delete removes the object key; a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// Walk calls fn with the key and size of each committed object under
	// the directory key prefix ("" for all).
	Walk(ctx context.Context, prefix string, fn func(key string, size int64) error) error
}

var (
	_ Store = (*Local)(nil)
	_ Store = (*S3)(nil)
	_ Store = (*Mirror)(nil)
)

// Sum reads the object key of st and returns its SHA-256 digest and size,
// stopping when ctx is done.
func Sum(ctx context.Context, st Store, key string) ([]byte, int64, error) {
	rc, _, err := st.Open(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, contextReader{ctx: ctx, r: rc})
	if err != nil {
		return nil, 0, fmt.Errorf("sum %s: %w", key, err)
	}
	return h.Sum(nil), n, nil
}

// checkRange checks that [off, off+n) lies within an object of size bytes
// (n < 0: to its end) and returns the length of the range.
func checkRange(key string, off, n, size int64) (int64, error) {
	if n < 0 {
		n = size - off
	}
	if off < 0 || off > size || n > size-off {
		return 0, fmt.Errorf("open %s: bytes %d+%d of %d: %w", key, off, n, size, ErrRangeNotSatisfiable)
	}
	return n, nil
}

// rangeHeader checks off and n (n < 0: to the end) and returns the HTTP
// Range header that asks for them. HTTP cannot ask for no bytes: for n == 0
// it stats key and, when off lies within it, returns an empty reader and
// the object's size instead, for the caller to return as they are.
func rangeHeader(ctx context.Context, key string, off, n int64, stat func(context.Context, string) (int64, error)) (rng string, empty io.ReadCloser, size int64, err error) {
	if off < 0 {
		return "", nil, 0, fmt.Errorf("open %s: offset %d: %w", key, off, ErrRangeNotSatisfiable)
	}
	if n == 0 {
		if size, err = stat(ctx, key); err != nil {
			return "", nil, 0, err
		}
		if _, err := checkRange(key, off, n, size); err != nil {
			return "", nil, 0, err
		}
		return "", io.NopCloser(strings.NewReader("")), size, nil
	}
	rng = "bytes=" + strconv.FormatInt(off, 10) + "-"
	if n > 0 {
		rng += strconv.FormatInt(off+n-1, 10)
	}
	return rng, nil, 0, nil
}

// sectionReadCloser reads a section of a file it closes.
type sectionReadCloser struct {
	*io.SectionReader
	io.Closer
}
