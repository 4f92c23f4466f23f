package origin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var (
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
// a netrc file) named name and returns it. Only
// its SHA-256 is stored, so the token cannot be shown again. A revoked
// token's name can be reused; an unrevoked one's gives ErrTokenExists.
func CreateToken(ctx context.Context, db *pgxpool.Pool, name string) (string, error) {
	if name == "" {
		return "", errors.New("create token: empty name")
	}
	token := tokenPrefix + rand.Text()
	sum := sha256.Sum256([]byte(token))
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

// RevokeToken revokes the unrevoked upload token named name; uploads with it
// fail from then on.
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
