package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/origin"
)

// TestRoots_CommandLine checks the command lines refused before any
// request is sent.
func TestRoots_CommandLine(t *testing.T) {
	t.Parallel()
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("narthex_x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Nothing listens here: a request would fail otherwise.
	off := []string{"--origin", "http://127.0.0.1:1", "--token-file", token}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"roots", "drop", "x"}, `unknown action "drop"`},
		{[]string{"roots", "add", "x"}, "missing PATH..."},
		{[]string{"roots", "add"}, "missing NAME"},
		{[]string{"roots", "add", ".x", "/nix/store/x"}, `root name ".x"`},
		{[]string{"roots", "add", "x", "/nix/store/x", "--expires-in", "1h", "--expires", "2030-01-01T00:00:00Z"}, "not both"},
		{[]string{"roots", "add", "x", "/nix/store/x", "--expires-in", "-1h"}, "--expires-in -1h0m0s is negative"},
		{[]string{"roots", "add", "x", "/nix/store/x", "--expires", "tomorrow"}, `--expires "tomorrow" is not an RFC 3339 time`},
		{[]string{"roots", "list", "a", "b"}, `unexpected argument "b"`},
		{[]string{"roots", "remove"}, "missing NAME"},
		{[]string{"roots", "remove", "a", "b"}, `unexpected argument "b"`},
		{[]string{"roots", "remove", "a/b"}, `root name "a/b"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			out, errOut, code := narthex(t, append(tt.args, off...)...)
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and %q", code, errOut, tt.want)
			}
			if strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
				t.Errorf("stderr is not one line:\n%s", errOut)
			}
			if out != "" {
				t.Errorf("standard output %q, want none", out)
			}
		})
	}
	_, errOut, code := narthex(t, "roots", "list")
	if code != 1 || !strings.Contains(errOut, "--token-file is required") {
		t.Errorf("list without --token-file: exit %d, stderr %q", code, errOut)
	}
	// Without an action the usage comes first.
	if _, errOut, code := narthex(t, "roots"); code != 1 || !strings.HasPrefix(errOut, "usage: narthex roots") ||
		!strings.Contains(errOut, "no action given") {
		t.Errorf("no action: exit %d, stderr:\n%s", code, errOut)
	}
	for _, args := range [][]string{{"help", "roots"}, {"roots", "-h"}, {"roots", "add", "-h"}, {"roots", "list", "--help"}, {"help", "roots", "remove"}} {
		out, _, code := narthex(t, args...)
		if code != 0 || !strings.Contains(out, "narthex roots") {
			t.Errorf("%s: exit %d, output:\n%s", strings.Join(args, " "), code, out)
		}
	}
}

// TestRoots_AgainstAnOrigin adds, lists, replaces and removes roots of a
// running origin, and checks that its refusals reach the user.
func TestRoots_AgainstAnOrigin(t *testing.T) {
	t.Parallel()
	dbURL, db, tokenFile := importDatabase(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1))
	p := startNarthex(t, "origin", "--listen", addr, "--database-url", dbURL, "--local-store", tempDir(t), "--maintain-interval", "0")
	p.waitLog(t, "origin listening", time.Minute)
	base := "http://" + addr
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	ha, _, _ := uploadPath(t, base, strings.TrimSpace(string(token)), []byte("NAR of a"))
	hb, _, _ := uploadPath(t, base, strings.TrimSpace(string(token)), []byte("NAR of b"))
	pa, pb := "/nix/store/"+ha+"-p", "/nix/store/"+hb+"-p"
	roots := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		return narthex(t, append(append([]string{"roots"}, args...), "--origin", base, "--token-file", tokenFile)...)
	}
	ok := func(args ...string) string {
		t.Helper()
		out, errOut, code := roots(args...)
		if code != 0 {
			t.Fatalf("narthex roots %s: exit %d, stderr:\n%s", strings.Join(args, " "), code, errOut)
		}
		return out
	}

	out := ok("add", "release-1", pa, hb+"-p", "--expires-in", "24h")
	if !strings.HasPrefix(out, "NAME ") || !strings.Contains(out, "release-1") ||
		!strings.Contains(out, pa) || !strings.Contains(out, pb) || strings.Contains(out, "never") {
		t.Errorf("add printed:\n%s", out)
	}
	ok("add", "pinned", ha)
	out = ok("list")
	if i, j := strings.Index(out, "pinned"), strings.Index(out, "release-1"); i < 0 || j < i || !strings.Contains(out, "never") {
		t.Errorf("list printed:\n%s\nwant pinned (never expiring), then release-1", out)
	}

	// A path not in the cache is refused with the origin's reason, and the
	// old paths stay.
	absent := testutil.RandomHash()
	_, errOut, code := roots("add", "release-1", pa, absent)
	if code != 1 || !strings.Contains(errOut, "not in the cache: "+absent) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
		t.Errorf("add with an absent path: exit %d, stderr:\n%s", code, errOut)
	}
	var root origin.Root
	if err := json.Unmarshal([]byte(ok("list", "release-1", "--json")), &root); err != nil {
		t.Fatal(err)
	}
	want := []string{pa, pb}
	slices.Sort(want)
	if !slices.Equal(root.Paths, want) || root.ExpiresAt == nil {
		t.Errorf("release-1 after a refused replacement: %+v, want %v expiring", root, want)
	}

	// A replacement keeps nothing of the old paths.
	ok("add", "release-1", pb, "--expires", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	var n int
	if err := db.QueryRow(t.Context(), "SELECT count(*) FROM root_path WHERE root = 'release-1' AND narinfo_hash = $1", ha).Scan(&n); err != nil || n != 0 {
		t.Errorf("release-1 still pins %s after its replacement (%d, %v)", ha, n, err)
	}

	if out := ok("remove", "release-1"); out != "removed root release-1\n" {
		t.Errorf("remove printed %q", out)
	}
	_, errOut, code = roots("list", "release-1")
	if code != 1 || strings.TrimSpace(errOut) != "narthex roots: no root named release-1" {
		t.Errorf("list of a removed root: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = roots("remove", "release-1")
	if code != 1 || !strings.Contains(errOut, "no root named release-1") {
		t.Errorf("remove of a removed root: exit %d, stderr %q", code, errOut)
	}

	bad := filepath.Join(t.TempDir(), "bad-token")
	os.WriteFile(bad, []byte("narthex_WRONG\n"), 0o600)
	_, errOut, code = narthex(t, "roots", "list", "--origin", base, "--token-file", bad)
	if code != 1 || !strings.Contains(errOut, "invalid or revoked upload token") {
		t.Errorf("list with a wrong token: exit %d, stderr %q", code, errOut)
	}
}
