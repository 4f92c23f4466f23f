package edge

import (
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/testutil"
)

// Ready says what /readyz answers: ready with the replica's staleness
// while it streams, and not ready once its replicator is gone.
func TestServer_Ready(t *testing.T) {
	t.Parallel()
	base, _, srv, rep := newEdgeIn(t, t.TempDir(), Config{MaxLag: 2 * time.Second})
	r := srv.Ready()
	if !r.Ready || !r.LagKnown || r.Lag > time.Minute {
		t.Fatalf("Ready() of a streaming edge = %+v", r)
	}
	rep.Close()
	testutil.Eventually(t, "the edge without its replicator to be not ready", time.Minute, func() bool {
		return !srv.Ready().Ready
	})
	if code, _, _ := get(t, "GET", base+"/readyz"); code != 503 {
		t.Errorf("readyz when Ready() says not ready = %d, want 503", code)
	}
}
