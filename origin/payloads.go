package origin

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/stores"
)

// PayloadStore is where the origin keeps NAR bytes, under keys that are
// paths relative to the cache root ("nar/<filehash>.nar.xz").
type PayloadStore interface {
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
}

var _ PayloadStore = (*stores.Local)(nil)

// registerLocalStore inserts or updates the store row of the origin's local
// store and returns its id.
func registerLocalStore(ctx context.Context, db *pgxpool.Pool, name, baseURL string) (int32, error) {
	var id int32
	err := db.QueryRow(ctx, qRegisterLocalStore, name, baseURL).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("register local store: store %q exists and is not a local store", name)
	}
	if err != nil {
		return 0, fmt.Errorf("register local store: %w", err)
	}
	return id, nil
}
