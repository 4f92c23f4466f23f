package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/pgcluster"
)

// fastSettings trade durability, which a throwaway cluster does not need, for
// speed.
var fastSettings = map[string]string{
	"fsync":              "off",
	"synchronous_commit": "off",
	"full_page_writes":   "off",
}

// BinDirEnv names the environment variable that points the tests at a
// folder holding PostgreSQL's initdb and postgres, as narthex dev's --pg-bin
// (whose variable it is too) does. Unset, the folder is found as
// pgcluster.FindBinDir finds it.
const BinDirEnv = "NARTHEX_PG_BIN"

// shared is set by Main before any test runs and only read afterwards.
var shared struct {
	ready   bool               // Main ran
	cluster *pgcluster.Cluster // nil when skip is set
	skip    string             // why tests that need PostgreSQL skip
}

// Main starts the cluster in a temporary folder, runs the tests, stops the
// cluster, removes the folder and exits with the tests' code. It exits 1 when
// the cluster does not start, and when PostgreSQL is missing under CI (the
// CI environment variable is set).
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	c, err := pgcluster.Start(ctx, pgcluster.Config{Dir: dir, Settings: fastSettings, BinDir: os.Getenv(BinDirEnv)})
	cancel()
	switch {
	case errors.Is(err, pgcluster.ErrNotInstalled) && os.Getenv("CI") == "":
		shared.skip = fmt.Sprintf("skipping off CI: %v", err)
	case errors.Is(err, pgcluster.ErrNotInstalled):
		fmt.Fprintf(os.Stderr, "pgtest: PostgreSQL is required under CI: %v\n", err)
		return 1
	case err != nil:
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	default:
		shared.cluster = c
		defer func() {
			if err := c.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "pgtest: stop cluster: %v\n", err)
			}
		}()
	}
	shared.ready = true
	return m.Run()
}

// sharedCluster returns the cluster Main started, or ends the test: skipped
// when PostgreSQL is missing, failed when Main did not run.
func sharedCluster(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	if !shared.ready {
		t.Fatal("pgtest: TestMain must call pgtest.Main")
	}
	if shared.skip != "" {
		t.Skip(shared.skip)
	}
	return shared.cluster
}
