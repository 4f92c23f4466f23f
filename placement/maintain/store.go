package maintain

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"time"

	"github.com/narthex-cache/narthex/stores"
)

// Store is a store maintenance reads, writes and deletes payloads in,
// under keys that are paths relative to the cache root
// ("nar/<filehash>.nar.xz").
type Store interface {
	// Put reads r to its end into key and returns its size and SHA-256
	// digest. It commits nothing unless r ends cleanly, ctx is not done and
	// the digest equals wantSHA256 (when not nil); on a digest mismatch the
	// error matches stores.ErrDigestMismatch.
	Put(ctx context.Context, key string, r io.Reader, wantSHA256 []byte) (size int64, sum []byte, err error)
	// Open opens key for reading and returns its size; a missing key gives
	// an error matching fs.ErrNotExist.
	Open(ctx context.Context, key string) (io.ReadCloser, int64, error)
	// Stat returns the size of key; a missing key gives an error matching
	// fs.ErrNotExist.
	Stat(ctx context.Context, key string) (int64, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// summer is a Store that hashes an object itself, perhaps without
// sending its bytes.
type summer interface {
	Sum(ctx context.Context, key string) ([]byte, int64, error)
}

// walker is a Store that lists its objects.
type walker interface {
	Walk(ctx context.Context, prefix string, fn func(key string, size int64) error) error
}

// tempRemover is a Store that keeps temporary files of interrupted writes
// and can remove them.
type tempRemover interface {
	RemoveTemp(ctx context.Context, olderThan time.Time) ([]stores.TempFile, error)
}

var (
	_ Store       = (*stores.Local)(nil)
	_ summer      = (*stores.Local)(nil)
	_ tempRemover = (*stores.Local)(nil)
	_ walker      = (*stores.Local)(nil)
	_ walker      = (*stores.S3)(nil)
)

// sum returns the SHA-256 digest and size of key in st.
func sum(ctx context.Context, st Store, key string) ([]byte, int64, error) {
	if s, ok := st.(summer); ok {
		return s.Sum(ctx, key)
	}
	r, _, err := st.Open(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return nil, n, fmt.Errorf("read %s: %w", key, err)
	}
	return h.Sum(nil), n, nil
}

// storeRow is a row of stores.sql.
type storeRow struct {
	ID             int32
	Name           string
	Kind           string
	BaseURL        string
	Settings       string
	Populate       bool
	Drain          bool
	DrainTo        *int32
	ReadOnly       bool
	WriteOnly      bool
	SoftMaxSize    *int64
	MaxSize        *int64
	UploadPriority *int32
	Bytes          int64
}

// writable reports whether copies may land in the store by the upload
// rules: of a kind that takes writes, neither read_only nor write_only
// (what lands there must be downloadable) nor draining.
func (s *storeRow) writable() bool {
	return s.Kind != stores.KindHTTP && !s.ReadOnly && !s.WriteOnly && !s.Drain
}

// limit is the most bytes a copy may take the store to: its max_size and
// its soft_max_size, whichever is lower; nil when it has neither.
func (s *storeRow) limit() *int64 {
	switch {
	case s.MaxSize == nil:
		return s.SoftMaxSize
	case s.SoftMaxSize == nil || *s.MaxSize < *s.SoftMaxSize:
		return s.MaxSize
	default:
		return s.SoftMaxSize
	}
}

// limitName says which limit limit is, for logs.
func (s *storeRow) limitName() string {
	if s.SoftMaxSize != nil && (s.MaxSize == nil || *s.SoftMaxSize <= *s.MaxSize) {
		return fmt.Sprintf("soft_max_size %d", *s.SoftMaxSize)
	}
	if s.MaxSize != nil {
		return fmt.Sprintf("max_size %d", *s.MaxSize)
	}
	return "no limit"
}

// opened is a store opened for a pass, or why it could not be.
type opened struct {
	row   storeRow
	store Store
	err   error
}
