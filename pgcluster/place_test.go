package pgcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStart_PrivateParent starts a cluster inside a folder of mode 0700, as
// root's home and mktemp -d folders are. Run as root, the server (run by the
// postgres user) cannot enter it: the cluster must go elsewhere, Dir must
// lead there, and the folder's mode must stay as it was.
func TestStart_PrivateParent(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	private, err := os.MkdirTemp("", "pgcluster-private-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(private) })
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	reachable := filepath.Join(os.TempDir(), "pgcluster-reachable-"+filepath.Base(private))
	t.Cleanup(func() { os.RemoveAll(reachable) })
	dir := filepath.Join(private, "state", "postgres")

	c := startCluster(t, Config{Dir: dir, ReachableDir: reachable})
	exec1(t, c.ConnString("postgres"), "CREATE TABLE kv (k text); INSERT INTO kv VALUES ('kept')")
	if fi, err := os.Stat(private); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode of %s = %v, %v; want it left at 0700", private, fi.Mode().Perm(), err)
	}
	if os.Geteuid() == 0 {
		target, err := os.Readlink(dir)
		if err != nil {
			t.Fatalf("as root, %s is not a link to a reachable folder: %v", dir, err)
		}
		if !strings.HasPrefix(target, reachable+"/") || c.Dir() != target {
			t.Errorf("cluster in %s (Dir() = %s), want a folder in %s", target, c.Dir(), reachable)
		}
	} else if c.Dir() != dir {
		t.Errorf("Dir() = %s, want %s: the server's own user needs no other folder", c.Dir(), dir)
	}

	// Starting again on the same Dir finds the same cluster.
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	c = startCluster(t, Config{Dir: dir, ReachableDir: reachable})
	if got := query(t, c.ConnString("postgres"), "SELECT k FROM kv"); got != "kept" {
		t.Errorf("row after restart = %q, want kept", got)
	}
}

func TestPlaceName(t *testing.T) {
	t.Parallel()
	a, b := placeName("/root/x/narthex-dev/postgres"), placeName("/root/y/narthex-dev/postgres")
	if a == b {
		t.Errorf("two folders share the place %s", a)
	}
	if a != placeName("/root/x/narthex-dev/postgres") {
		t.Error("placeName is not stable")
	}
	if !strings.HasPrefix(a, "narthex-dev-postgres-") {
		t.Errorf("placeName = %s, want it to start with the folder's name", a)
	}
	if n := placeName("/" + strings.Repeat("ä b/", 40) + "c"); strings.ContainsAny(n, "/ ä") || len(n) > 60 {
		t.Errorf("placeName of an odd path = %q", n)
	}
}
