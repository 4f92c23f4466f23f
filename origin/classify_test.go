package origin

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
)

// TestServer_DatabaseDown stops PostgreSQL under a running origin: what
// needs the database is answered 503 with a Retry-After and a reason,
// nothing is stored, and the origin works again once PostgreSQL is back.
// It stops the shared cluster, so it must not run in parallel.
func TestServer_DatabaseDown(t *testing.T) {
	cluster := pgtest.Cluster(t)
	h := newHarness(t, nil)
	narA := newNar("bytes of a", ".xz")
	h.putNar(narA)
	infoA := nixInfo("a", narA)
	narB := newNar("bytes of b", ".xz")
	before := h.snapshot()

	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, path string
		body         []byte
	}{
		{http.MethodGet, "/" + infoA.Hash + ".narinfo", nil},
		{http.MethodHead, "/" + infoA.Hash + ".narinfo", nil},
		{http.MethodPut, "/" + infoA.Hash + ".narinfo", infoA.Render()},
		{http.MethodPut, "/" + narB.url, narB.data},
	} {
		r := h.do(tt.method, tt.path, tt.body)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s with the database down = %d (Retry-After %q), want 503 with Retry-After",
				tt.method, tt.path, r.status, r.header.Get("Retry-After"))
		}
		if tt.method != http.MethodHead && !strings.Contains(r.body, "database is unavailable") {
			t.Errorf("%s %s: body %q gives no reason", tt.method, tt.path, r.body)
		}
	}
	// What needs no database is still served.
	if r := h.do(http.MethodGet, "/nix-cache-info", nil); r.status != http.StatusOK {
		t.Errorf("GET /nix-cache-info with the database down = %d", r.status)
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := cluster.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	h.unchanged(before)
	testutil.Eventually(t, "uploads once the database is back", time.Minute, func() bool {
		return h.do(http.MethodPut, "/"+infoA.Hash+".narinfo", infoA.Render()).status == http.StatusOK
	})
}

// mountTmpfs mounts a tmpfs of size bytes at a new directory, for as long as
// the test runs. It needs root; off CI a test without it is skipped.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+itoa(size)); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("cannot mount a tmpfs (needs root): %v", err)
		}
		t.Fatalf("mount a tmpfs (the test needs root under CI): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestServer_DiskFull uploads a NAR file larger than the free space of the
// local store: 507 with a reason, nothing stored, and a file that fits is
// still accepted.
func TestServer_DiskFull(t *testing.T) {
	t.Parallel()
	dir := mountTmpfs(t, 1<<20)
	h := newHarness(t, func(c *Config) {
		c.LocalStoreDir = filepath.Join(dir, "store")
		c.MaxNarSize = 4 << 20
	})
	before := h.snapshot()
	big := newNar(strings.Repeat("0123456789abcdef", 2<<20/16), "")
	checkError(t, h.do(http.MethodPut, "/"+big.url, big.data), http.StatusInsufficientStorage, "out of storage space")
	h.unchanged(before)
	h.putNar(newNar("fits", ".xz"))
}
