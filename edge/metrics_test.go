package edge

import (
	"testing"
	"time"

	"github.com/narthex-cache/narthex/replication"
)

// Replication lag, in bytes and seconds, from what the replicator knows.
func TestLag(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	commit := now.Add(-90 * time.Second)
	for _, tc := range []struct {
		name           string
		st             replication.Status
		bytes, seconds float64
	}{
		{"caught up", replication.Status{Connected: true, CaughtUpAt: now, AppliedLSN: 100, ServerWALEnd: 100, LastCommit: commit}, 0, 0},
		{"applied past the last report", replication.Status{Connected: true, CaughtUpAt: now, AppliedLSN: 120, ServerWALEnd: 100, LastCommit: commit}, 0, 0},
		{"behind", replication.Status{Connected: true, CaughtUpAt: now, AppliedLSN: 100, ServerWALEnd: 350, LastCommit: commit}, 250, 90},
		{"catching up after a restart", replication.Status{Connected: true, AppliedLSN: 100, ServerWALEnd: 100, LastCommit: commit}, 0, 90},
		{"disconnected", replication.Status{CaughtUpAt: now, AppliedLSN: 100, ServerWALEnd: 100, LastCommit: commit}, 0, 90},
		{"never bootstrapped", replication.Status{}, 0, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lagBytes(tc.st); got != tc.bytes {
				t.Errorf("lag %v bytes, want %v", got, tc.bytes)
			}
			if got := lagSeconds(tc.st, now); got != tc.seconds {
				t.Errorf("lag %v seconds, want %v", got, tc.seconds)
			}
		})
	}
}
