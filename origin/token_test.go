package origin

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestCreateToken_StoresOnlyDigest(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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

func TestValidTokenName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"ci": true, "dev": true, "0": true, "build-farm.eu_1": true, strings.Repeat("a", 63): true,
		"": false, "Bad Name!": false, "CI": false, "--help": false, "-x": false, ".hidden": false,
		"_x": false, "a b": false, "a/b": false, strings.Repeat("a", 64): false, "é": false,
	} {
		if got := ValidTokenName.MatchString(name); got != want {
			t.Errorf("ValidTokenName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestCreateToken_BadName(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	count := func() (n int) {
		if err := h.db.QueryRow(t.Context(), `SELECT count(*) FROM upload_token`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	for _, name := range []string{"Bad Name!", "--help", ""} {
		if _, err := CreateToken(t.Context(), h.db, name); !errors.Is(err, ErrBadTokenName) {
			t.Errorf("CreateToken(%q) = %v, want ErrBadTokenName", name, err)
		}
		if _, err := ReplaceToken(t.Context(), h.db, name); !errors.Is(err, ErrBadTokenName) {
			t.Errorf("ReplaceToken(%q) = %v, want ErrBadTokenName", name, err)
		}
	}
	if after := count(); after != before {
		t.Errorf("%d tokens after bad names, want %d as before", after, before)
	}
}

// TestReplaceToken replaces an unrevoked token, then a revoked one: each
// time only the new token uploads.
func TestReplaceToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := t.Context()
	put := func(token string) int {
		return h.do(http.MethodPut, "/nix-cache-info", []byte("StoreDir: /nix/store\n"), "Authorization", "Bearer "+token).status
	}
	first, err := ReplaceToken(ctx, h.db, "dev") // no token of that name yet
	if err != nil {
		t.Fatal(err)
	}
	second, err := ReplaceToken(ctx, h.db, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if got := put(first); got != http.StatusUnauthorized {
		t.Errorf("upload with the replaced token = %d, want 401", got)
	}
	if got := put(second); got != http.StatusNoContent {
		t.Errorf("upload with the new token = %d, want 204", got)
	}
	if err := RevokeToken(ctx, h.db, "dev"); err != nil {
		t.Fatal(err)
	}
	third, err := ReplaceToken(ctx, h.db, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if got := put(third); got != http.StatusNoContent {
		t.Errorf("upload with the token replacing a revoked one = %d, want 204", got)
	}
	var n int
	if err := h.db.QueryRow(ctx, `SELECT count(*) FROM upload_token WHERE name = 'dev'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d tokens named dev (%v), want 1", n, err)
	}
}
