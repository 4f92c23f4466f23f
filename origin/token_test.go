package origin

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestCreateToken_StoresOnlyDigest(t *testing.T) {
	h := newHarness(t, nil)
	ctx := t.Context()
	token, err := CreateToken(ctx, h.db, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, tokenPrefix) || len(token) < len(tokenPrefix)+20 {
		t.Errorf("token %q is too short", token)
	}
	// No column of any row holds the token text, in any form PostgreSQL
	// prints it.
	var rows string
	if err := h.db.QueryRow(ctx, `SELECT string_agg(t::text || encode(token_sha256, 'hex') || encode(token_sha256, 'escape'), ' ') FROM upload_token t`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rows, token) || strings.Contains(rows, strings.TrimPrefix(token, tokenPrefix)) {
		t.Errorf("upload_token holds the token text: %s", rows)
	}
	var digest []byte
	if err := h.db.QueryRow(ctx, `SELECT token_sha256 FROM upload_token WHERE name = 'ci'`).Scan(&digest); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(token)); string(digest) != string(sum[:]) {
		t.Errorf("token_sha256 = %x, want %x", digest, sum)
	}

	if _, err := CreateToken(ctx, h.db, "ci"); !errors.Is(err, ErrTokenExists) {
		t.Errorf("second CreateToken = %v, want ErrTokenExists", err)
	}
	if _, err := CreateToken(ctx, h.db, ""); err == nil {
		t.Error("CreateToken with an empty name succeeded")
	}
}

func TestRevokeToken(t *testing.T) {
	h := newHarness(t, nil)
	ctx := t.Context()
	put := func(token string) int {
		return h.do(http.MethodPut, "/nix-cache-info", []byte("StoreDir: /nix/store\n"), "Authorization", "Bearer "+token).status
	}
	token, err := CreateToken(ctx, h.db, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if got := put(token); got != http.StatusNoContent {
		t.Fatalf("upload with a new token = %d", got)
	}
	if err := RevokeToken(ctx, h.db, "ci"); err != nil {
		t.Fatal(err)
	}
	if got := put(token); got != http.StatusUnauthorized {
		t.Errorf("upload with a revoked token = %d, want 401", got)
	}
	if err := RevokeToken(ctx, h.db, "ci"); !errors.Is(err, ErrTokenNotFound) {
		t.Errorf("second RevokeToken = %v, want ErrTokenNotFound", err)
	}
	if err := RevokeToken(ctx, h.db, "nobody"); !errors.Is(err, ErrTokenNotFound) {
		t.Errorf("RevokeToken of an unknown name = %v, want ErrTokenNotFound", err)
	}

	// The name of a revoked token can be given to a new one; the old token
	// stays invalid.
	renewed, err := CreateToken(ctx, h.db, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if got := put(renewed); got != http.StatusNoContent {
		t.Errorf("upload with the renewed token = %d", got)
	}
	if got := put(token); got != http.StatusUnauthorized {
		t.Errorf("upload with the revoked token after renewal = %d, want 401", got)
	}
}
