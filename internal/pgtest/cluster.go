package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/pgcluster"
)

// restartTimeout bounds bringing the shared cluster back after a test.
const restartTimeout = time.Minute

// Cluster returns the shared cluster, for tests that stop and restart
// PostgreSQL. Such a test must not call t.Parallel: every test of the binary
// uses the same cluster. If the test leaves the cluster stopped, it is
// started again when the test ends.
func Cluster(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	c := sharedCluster(t)
	t.Cleanup(func() { ensureRunning(t, c) })
	return c
}

// ensureRunning starts c again if a test stopped it (or it crashed).
func ensureRunning(t testing.TB, c *pgcluster.Cluster) {
	t.Helper()
	if c.Running() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), restartTimeout)
	defer cancel()
	if err := c.Restart(ctx); err != nil {
		t.Errorf("pgtest: restart cluster: %v", err)
	}
}
