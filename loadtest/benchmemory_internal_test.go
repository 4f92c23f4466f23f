package loadtest

import (
	"bytes"
	"strings"
	"testing"
)

// What the lag edge holds outside the Go runtime is its RSS less the
// runtime's Sys, unless Sys, which counts what was reserved and not only
// what is resident, is the larger.
func TestWriteMemory_OutsideGo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		rss, sys float64
		want     string
	}{
		{"rss larger", 220 << 20, 165 << 20, "so about\n55 MiB was memory outside the Go runtime"},
		{"sys larger", 145 << 20, 155 << 20, "more than the RSS: part of what the runtime\nreserved was not resident"},
	} {
		l := &benchLater{
			memory: []memReading{{Edge: "lag", Stage: "after lookup-big-mixed", RSS: tc.rss, HWM: tc.rss}},
			heap:   map[string]float64{"Sys": tc.sys, "HeapInuse": 100 << 20, "HeapAlloc": 90 << 20},
			big:    map[string]LookupResult{},
		}
		var b bytes.Buffer
		(&BenchResults{}).writeMemory(&b, l)
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("%s: section 4 lacks %q:\n%s", tc.name, tc.want, b.String())
		}
	}
}
