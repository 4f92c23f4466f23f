package pgcluster

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestCluster_Kill kills a server with a committed row and one being
// written: after Restart the committed row is there, the other is not, and
// the server recovered from a crash rather than a shutdown.
func TestCluster_Kill(t *testing.T) {
	dir := clusterDir(t)
	c := startCluster(t, Config{Dir: dir})
	exec1(t, c.ConnString("postgres"), "CREATE TABLE kv (k text); INSERT INTO kv VALUES ('committed')")
	open, err := pgx.Connect(t.Context(), c.ConnString("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close(context.Background())
	if _, err := open.Exec(t.Context(), "BEGIN; INSERT INTO kv VALUES ('open')"); err != nil {
		t.Fatal(err)
	}

	if err := c.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if c.Running() {
		t.Error("Running() = true after Kill")
	}
	if left, err := serving(c.dataDir); err != nil || len(left) > 0 {
		t.Errorf("after Kill, processes %v run in the data directory (%v)", left, err)
	}
	if err := c.Wait(t.Context()); err != nil {
		t.Errorf("Wait after Kill = %v, want nil", err)
	}
	if err := c.Restart(t.Context()); err != nil {
		t.Fatalf("Restart after Kill: %v", err)
	}
	if got := query(t, c.ConnString("postgres"), "SELECT string_agg(k, ',') FROM kv"); got != "committed" {
		t.Errorf("rows after Kill = %q, want committed", got)
	}
	log, err := os.ReadFile(c.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "not properly shut down") {
		t.Errorf("the server did not recover from a crash; log:\n%s", log)
	}
}
