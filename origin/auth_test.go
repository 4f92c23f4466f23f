package origin

import (
	"encoding/base64"
	"net/http"
	"testing"
)

func TestServer_Authentication(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	revoked, err := CreateToken(t.Context(), h.db, "revoked")
	if err != nil {
		t.Fatal(err)
	}
	if err := RevokeToken(t.Context(), h.db, "revoked"); err != nil {
		t.Fatal(err)
	}
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	tests := []struct {
		name   string
		header string // Authorization; "-" for none
		status int
		want   string
	}{
		{"netrc password, any user", basic("anybody", h.token), http.StatusNoContent, ""},
		{"Bearer", "Bearer " + h.token, http.StatusNoContent, ""},
		{"bearer in lower case", "bearer " + h.token, http.StatusNoContent, ""},
		{"missing", "-", http.StatusUnauthorized, "token required"},
		{"wrong password", basic("anybody", "narthex_WRONG"), http.StatusUnauthorized, "invalid or revoked"},
		{"wrong Bearer", "Bearer narthex_WRONG", http.StatusUnauthorized, "invalid or revoked"},
		{"token as user name", basic(h.token, ""), http.StatusUnauthorized, "token required"},
		{"revoked", "Bearer " + revoked, http.StatusUnauthorized, "invalid or revoked"},
		{"other scheme", "Token " + h.token, http.StatusUnauthorized, "unsupported Authorization"},
		{"empty Bearer", "Bearer ", http.StatusUnauthorized, "unsupported Authorization"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.in(t).do(http.MethodPut, "/nix-cache-info", []byte("StoreDir: /nix/store\n"), "Authorization", tt.header)
			if tt.status != http.StatusUnauthorized {
				if r.status != tt.status {
					t.Errorf("status = %d %q, want %d", r.status, r.body, tt.status)
				}
				return
			}
			checkError(t, r, tt.status, tt.want)
			if got := r.header.Get("WWW-Authenticate"); got != `Basic realm="narthex"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
		})
	}
	// Reads need no token.
	if r := h.do(http.MethodGet, "/nix-cache-info", nil, "Authorization", "-"); r.status != http.StatusOK {
		t.Errorf("GET without a token = %d", r.status)
	}
}
