package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/pgtest"
)

// The dashboard of an origin process: served to anyone on --admin-listen,
// on the public listener only with the token of --dashboard-token-file,
// and not at all there without one.
func TestOrigin_DashboardListeners(t *testing.T) {
	t.Parallel()
	url := pgtest.NewOriginDatabase(t)
	tokenFile := filepath.Join(tempDir(t), "token")
	if err := os.WriteFile(tokenFile, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 3)
	public, admin, plain := fmt.Sprintf("127.0.0.1:%d", ports), fmt.Sprintf("127.0.0.1:%d", ports+1), fmt.Sprintf("127.0.0.1:%d", ports+2)
	p := startNarthex(t, "origin", "--listen", public, "--admin-listen", admin, "--dashboard-token-file", tokenFile,
		"--database-url", url, "--local-store", tempDir(t), "--maintain-interval", "0")
	p.waitLog(t, "origin listening", time.Minute)
	p.waitLog(t, "dashboard listening", time.Minute)
	q := startNarthex(t, "origin", "--listen", plain, "--database-url", url, "--local-store", tempDir(t), "--maintain-interval", "0")
	q.waitLog(t, "origin listening", time.Minute)

	get := func(addr, path, token string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		addr, path, token string
		status            int
		body              string
	}{
		{admin, "/dashboard", "", 200, "narthex dashboard"},
		{admin, "/api/stats/edges", "", 200, `"edges"`},
		{admin, "/narinfo", "", 404, "the admin address serves /dashboard"},
		{public, "/dashboard", "", 401, "a dashboard token is required"},
		{public, "/api/stats/overview", "wrong", 401, "a dashboard token is required"},
		{public, "/dashboard", "0123456789abcdef0123", 200, "narthex dashboard"},
		{public, "/api/stats/stores", "0123456789abcdef0123", 200, `"stores"`},
		{public, "/nix-cache-info", "", 200, "StoreDir"},
		{plain, "/dashboard", "", 404, "not found"},
		{plain, "/api/stats/overview", "0123456789abcdef0123", 404, "not found"},
	} {
		status, body := get(c.addr, c.path, c.token)
		if status != c.status || !strings.Contains(body, c.body) {
			t.Errorf("GET %s%s (token %q) = %d %.200q, want %d with %q", c.addr, c.path, c.token, status, body, c.status, c.body)
		}
	}
}

func TestOrigin_DashboardFlagErrors(t *testing.T) {
	t.Parallel()
	short := filepath.Join(tempDir(t), "short")
	if err := os.WriteFile(short, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := pgtest.NewOriginDatabase(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--dashboard-token-file", short}, "the token must be at least 16 characters"},
		{[]string{"--dashboard-token-file", filepath.Join(tempDir(t), "absent")}, "--dashboard-token-file"},
		{[]string{"--admin-listen", "256.0.0.1:1"}, "--admin-listen"},
	} {
		cmd := exec.Command(os.Args[0], append([]string{"origin", "--database-url", url, "--listen", "127.0.0.1:0",
			"--local-store", tempDir(t)}, c.args...)...)
		cmd.Env = append(os.Environ(), "NARTHEX_TEST_AS_MAIN=1")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("narthex origin %v = %v:\n%s\nwant an error with %q", c.args, err, out, c.want)
		}
	}
}
