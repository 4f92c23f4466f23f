package origin

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
)

// unauthorized answers a request without valid credentials.
func unauthorized(msg string) *httpError {
	return clientError(http.StatusUnauthorized, "%s", msg).
		withHeader("WWW-Authenticate", `Basic realm="narthex"`)
}

// authenticate checks the upload token of r: the password of HTTP Basic
// credentials (any user name, as Nix sends them from a netrc file) or a
// Bearer token. It returns nil when the token's SHA-256 belongs to an
// unrevoked upload token.
func (s *Server) authenticate(r *http.Request) error {
	token, err := requestToken(r)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(token))
	var name string
	err = s.db.QueryRow(r.Context(), qCheckToken, sum[:]).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return unauthorized("invalid or revoked upload token")
	}
	if err != nil {
		return fmt.Errorf("check upload token: %w", err)
	}
	return nil
}

// authenticated reports whether r carries a valid upload token. A read
// needs none, so a missing or bad one only means r is anonymous; a
// database that cannot say is logged and counts as no.
func (s *Server) authenticated(r *http.Request) bool {
	if r.Header.Get("Authorization") == "" {
		return false
	}
	err := s.authenticate(r)
	if err != nil && !errors.As(err, new(*httpError)) {
		s.log.Warn("could not check a reader's upload token", "err", err)
	}
	return err == nil
}

// requestToken returns the upload token r carries.
func requestToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", unauthorized("upload token required (HTTP Basic password or Bearer token)")
	}
	if _, pass, ok := r.BasicAuth(); ok {
		if pass == "" {
			return "", unauthorized("upload token required as the HTTP Basic password")
		}
		return pass, nil
	}
	scheme, token, ok := strings.Cut(h, " ")
	if ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(token) != "" {
		return strings.TrimSpace(token), nil
	}
	return "", unauthorized("unsupported Authorization header; use HTTP Basic or Bearer")
}
