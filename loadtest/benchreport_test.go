package loadtest_test

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/narthex-cache/narthex/loadtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The report of a small results folder (testdata/bench: two repetitions of
// every lookup cell, made up so that the medians are easy to check) is the
// golden file, and judges the targets from those medians.
func TestWriteBenchmarks(t *testing.T) {
	r, err := loadtest.ReadBenchResults("testdata/bench")
	if err != nil {
		t.Fatal(err)
	}
	previous, err := os.ReadFile("testdata/bench/previous.md")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := loadtest.WriteBenchmarks(&b, r, previous); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	const golden = "testdata/bench/BENCHMARKS.golden.md"
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("report differs from %s (-want +got; go test -run TestWriteBenchmarks -update rewrites it):\n%s", golden, diff)
	}

	for _, want := range []string{
		// Medians of two runs, 10% apart: hot hits, edge 6.30 µs vs nginx 10.5 µs.
		"| server CPU per answer ≤ 0.75× nginx's (hot set, hits) | lookup: edge 6.30 µs, nginx 10.5 µs: 0.60×; wrk: edge 6.30 µs, nginx 10.5 µs: 0.60× | yes |",
		"| throughput ≥ 1.0× nginx (uniform set, hits) | lookup: edge 99750, nginx 105000: 0.95×; wrk: edge 99750, nginx 105000: 0.95× | **no** |",
		"| throughput ≥ 0.95× the ceiling (hot set, misses) | lookup: edge 126000, ceiling-miss 127050: 0.99×;",
		"| p99 ≤ 1 ms at half of the maximum throughput (uniform hits, open loop) | edge p99 800 µs at 50000 req/s | yes |",
		// Not re-run: carried over with their date, the lookup rows left out.
		"| bootstrap of 1,000,000 narinfos ≤ 30 s | edge 5.63 s for 1000000 narinfos | yes (run of 2026-11-23 17:48 UTC) |",
		"## 2. Bootstrap of 1000000 narinfos: edge vs native subscriber\n\n*Not re-run: from the run of 2026-11-23 17:48 UTC",
		"## Warnings and errors logged by narthex during the run\n\n*Not re-run",
		// The commands of this run.
		"$T/narthex loadtest wrk --url ... --keys 3000 --hit-ratio 1 --duration 2s --json",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, gone := range []string{"Old lookup figures", "2.11×", "A profile.\n\n## 7"} {
		if strings.Contains(got, gone) {
			t.Errorf("report still has %q", gone)
		}
	}
}

// A report carried over twice keeps the date of the run that made the
// section, and marks it once.
func TestWriteBenchmarks_CarriedTwice(t *testing.T) {
	r, err := loadtest.ReadBenchResults("testdata/bench")
	if err != nil {
		t.Fatal(err)
	}
	previous, _ := os.ReadFile("testdata/bench/previous.md")
	var once, twice bytes.Buffer
	if err := loadtest.WriteBenchmarks(&once, r, previous); err != nil {
		t.Fatal(err)
	}
	if err := loadtest.WriteBenchmarks(&twice, r, once.Bytes()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(twice.String(), "*Not re-run"); n != 3 {
		t.Errorf("%d not-re-run marks, want 3 (sections 2, 7 and the warnings)", n)
	}
	if strings.Contains(twice.String(), "run of 2026-11-30") || !strings.Contains(twice.String(), "yes (run of 2026-11-23 17:48 UTC) |") {
		t.Errorf("the carried sections lost their date:\n%s", twice.String())
	}
}

// The open loop's rate is half the median closed-loop throughput of the
// Go generator's runs: for the uniform hits of testdata/bench, runs of
// 95000 and 104500 req/s.
func TestHalfMax(t *testing.T) {
	got, err := loadtest.HalfMax("testdata/bench", "uniform", "hits", "edge")
	if err != nil {
		t.Fatal(err)
	}
	if got != 49875 {
		t.Errorf("HalfMax = %v, want 49875", got)
	}
	if _, err := loadtest.HalfMax("testdata/bench", "uniform", "mixed", "ceiling"); err == nil {
		t.Error("HalfMax of a server without runs: no error")
	}
}
