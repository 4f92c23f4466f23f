package loadtest

import (
	"strings"
	"testing"
	"time"
)

func TestGCTargetRows(t *testing.T) {
	t.Parallel()
	lookups := func(p99 time.Duration, wrong int64) *LookupResult {
		return &LookupResult{Latency: Latency{P99: p99}, Errors: wrong}
	}
	run := func(collection time.Duration, uploadMax time.Duration, before, during *LookupResult) *benchGC {
		return &benchGC{
			graph: &GCResult{Graph: GCGraphStats{Paths: 1000, References: 5000}},
			run: &GCRunResult{
				Collection: collection,
				Baseline:   GCPhase{Lookups: before},
				During:     GCPhase{Lookups: during, Uploads: &IngestResult{Upload: Latency{Max: uploadMax}}},
				After:      GCAfter{Live: 500, Reachable: 500},
			},
		}
	}
	for _, tc := range []struct {
		name string
		g    *benchGC
		want []string // the verdict of each row
	}{
		{"all met", run(30*time.Second, 300*time.Millisecond, lookups(time.Millisecond, 0), lookups(1500*time.Microsecond, 0)), []string{"yes", "yes", "yes"}},
		{"slow", run(70*time.Second, 2*time.Second, lookups(time.Millisecond, 0), lookups(5*time.Millisecond, 0)), []string{"no", "no", "no"}},
		{"wrong answers", run(2*time.Second, time.Millisecond, lookups(time.Millisecond, 0), lookups(time.Millisecond, 3)), []string{"yes", "yes", "no"}},
		{"not run", &benchGC{graph: &GCResult{}}, []string{"no"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := gcTargetRows(tc.g, "")
			if len(rows) != len(tc.want) {
				t.Fatalf("%d rows, want %d: %q", len(rows), len(tc.want), rows)
			}
			for i, row := range rows {
				if !strings.HasSuffix(row, "| "+yesNo(tc.want[i] == "yes")+" |") {
					t.Errorf("row %d = %q, want verdict %s", i, row, tc.want[i])
				}
				if !isGCTarget(row) {
					t.Errorf("row %d is not recognised as a target of section 10: %q", i, row)
				}
			}
		})
	}
}
