package loadtest_test

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/loadtest"
)

// requireWrk fails in CI when wrk is missing, and skips elsewhere.
func requireWrk(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("wrk"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("wrk is missing: %v (apt-get install wrk)", err)
		}
		t.Skip("wrk is not installed (off CI only)")
	}
}

// wrk runs against a hit ceiling and a miss ceiling: every answer of the
// first is a 200, every answer of the second a 404, as the list of paths
// (all hits, all misses) expects.
func TestWrk(t *testing.T) {
	requireWrk(t)
	hit, miss := startCeiling(t, loadtest.CeilingConfig{}), startCeiling(t, loadtest.CeilingConfig{Miss: true})
	for _, tc := range []struct {
		url      string
		hitRatio float64
		allBad   bool
	}{{hit, 1, false}, {miss, 0, true}} {
		results, err := loadtest.Wrk(t.Context(), loadtest.WrkConfig{
			URLs: []string{tc.url}, ServerPIDs: []int{os.Getpid()}, Keys: 50, Seed: 1, HitRatio: tc.hitRatio,
			Connections: 4, Duration: time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		r := results[0]
		want := int64(0)
		if tc.allBad {
			want = r.Requests
		}
		if r.Requests == 0 || r.Non2xx != want || r.ExpectedNon2xx != want || r.SocketErrors != 0 || r.Latency.Count != r.Requests {
			t.Errorf("%s at hit ratio %v: %+v", tc.url, tc.hitRatio, r)
		}
		if r.ServerCPU <= 0 || r.CPUPerRequest != r.ServerCPU/time.Duration(r.Requests) {
			t.Errorf("server CPU %v, per request %v", r.ServerCPU, r.CPUPerRequest)
		}
	}
	if _, err := loadtest.Wrk(t.Context(), loadtest.WrkConfig{URLs: []string{hit + "/cache"}, Keys: 5, Duration: time.Second}); err == nil {
		t.Error("a URL with a path prefix accepted")
	}
}
