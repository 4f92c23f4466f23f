package origin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// qDeleteToken is kept here rather than in queries.go: tokens are this
// file's alone.
var qDeleteToken = query("delete_token")

// ValidTokenName matches an upload token name: 1 to 63 characters of
// [a-z0-9_.-], starting with a letter or digit, so that a name is safe in
// logs, shells and URLs and never looks like a flag.
var ValidTokenName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

var (
	// ErrBadTokenName is returned for a name ValidTokenName does not match.
	ErrBadTokenName = errors.New("a token name is 1 to 63 characters of a-z, 0-9, '_', '.' and '-', starting with a letter or digit")
	// ErrTokenExists is returned by CreateToken when an unrevoked token has
	// the name.
	ErrTokenExists = errors.New("an unrevoked upload token has this name")
	// ErrTokenNotFound is returned by RevokeToken when no unrevoked token
	// has the name.
	ErrTokenNotFound = errors.New("no unrevoked upload token has this name")
)

// tokenPrefix starts every upload token, so that a leaked one is easy to
// recognize.
const tokenPrefix = "narthex_"

// CreateToken makes a random upload token (128 bits, in characters safe for
// a netrc file) named name and returns it. Only its SHA-256 is stored, so
// the token cannot be shown again. A revoked token's name can be reused; an
// unrevoked one's gives ErrTokenExists, a name ValidTokenName does not match
// ErrBadTokenName.
func CreateToken(ctx context.Context, db *pgxpool.Pool, name string) (string, error) {
	if !ValidTokenName.MatchString(name) {
		return "", fmt.Errorf("create token %q: %w", name, ErrBadTokenName)
	}
	token, sum := newToken()
	var id int32
	err := db.QueryRow(ctx, qCreateToken, name, sum[:]).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("create token %q: %w", name, ErrTokenExists)
	}
	if err != nil {
		return "", fmt.Errorf("create token %q: %w", name, err)
	}
	return token, nil
}

// ReplaceToken makes a new upload token named name, as CreateToken does,
// after deleting any token of that name, revoked or not, in the same
// transaction: the old token stops working as the new one starts.
func ReplaceToken(ctx context.Context, db *pgxpool.Pool, name string) (string, error) {
	if !ValidTokenName.MatchString(name) {
		return "", fmt.Errorf("replace token %q: %w", name, ErrBadTokenName)
	}
	token, sum := newToken()
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, qDeleteToken, name); err != nil {
			return err
		}
		var id int32
		return tx.QueryRow(ctx, qCreateToken, name, sum[:]).Scan(&id)
	})
	if err != nil {
		return "", fmt.Errorf("replace token %q: %w", name, err)
	}
	return token, nil
}

// newToken returns a random token (128 bits, in characters safe for a netrc
// file) and its SHA-256.
func newToken() (string, [sha256.Size]byte) {
	token := tokenPrefix + rand.Text()
	return token, sha256.Sum256([]byte(token))
}

// RevokeToken revokes the unrevoked upload token named name; uploads with it
// fail from then on. Any name is looked up, so that tokens named before
// names were checked can still be revoked.
func RevokeToken(ctx context.Context, db *pgxpool.Pool, name string) error {
	tag, err := db.Exec(ctx, qRevokeToken, name)
	if err != nil {
		return fmt.Errorf("revoke token %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke token %q: %w", name, ErrTokenNotFound)
	}
	return nil
}
