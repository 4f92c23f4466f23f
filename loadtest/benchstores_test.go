package loadtest_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/narthex-cache/narthex/loadtest"
)

// storesOnlyReport writes the report of testdata/bench-stores, a run made
// with --stores-only, replacing previous.
func storesOnlyReport(t *testing.T, previous []byte) string {
	t.Helper()
	r, err := loadtest.ReadBenchResults("testdata/bench-stores")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := loadtest.WriteBenchmarks(&b, r, previous); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A run with --stores-only writes section 8 and its targets, from figures
// made up so that the medians and verdicts are easy to check (redirects:
// lookup 45000 vs 50000 req/s, 0.90×, met; wrk 40000 vs 50000, 0.80×, not
// met; small backfill 400 vs 500 files/s, 0.80×, met; large 134 vs 67 MB/s),
// and keeps every other section of the file it replaces as it was.
func TestWriteBenchmarks_StoresOnly(t *testing.T) {
	previous := readPrevious(t)
	got := report(t, "testdata/bench-stores", previous, "testdata/bench-stores/BENCHMARKS.golden.md")
	mustContain(t, got,
		"Section 8 and its targets were made by another run, `bash loadtest/bench.sh --quick --stores-only` on 2026-12-01 09:00 UTC, and say so.",
		"| NAR redirects/s ≥ 0.9× the redirect ceiling (GeoIP ranking of two stores, 64 connections) | lookup: edge 45000, ceiling 50000: 0.90×; wrk: edge 40000, ceiling 50000: 0.80× | **no** (run of 2026-12-01 09:00 UTC) |",
		"| 0 allocations per NAR redirect in the handler benchmark (GeoIP ranking) | 0 allocs/op (`BenchmarkServer_NarRedirect/geoip`) | yes (run of 2026-12-01 09:00 UTC) |",
		"maintain 400 files/s, rclone 500 files/s: 0.80× | yes (run of",
		"maintain 134 MB/s, rclone 67 MB/s: 2.00× | yes (run of",
		"## 8. Stores: NAR redirects and backfills",
		"*Made by the run of 2026-12-01 09:00 UTC",
	)
	for i, sec := range strings.SplitAfter(string(previous), "\n## ") {
		if i == 0 || strings.HasPrefix(sec, "Targets") {
			continue
		}
		if !strings.Contains(got, strings.TrimSuffix(sec, "\n## ")) {
			t.Errorf("the section %q of the previous file was not kept as it was", strings.SplitN(sec, "\n", 2)[0])
		}
	}
	for _, row := range strings.Split(string(previous), "\n") {
		if strings.HasPrefix(row, "| ") && !strings.Contains(got, row) {
			t.Errorf("the row %q of the previous file was not kept", row)
		}
	}
	if !strings.Contains(got, "\n## 8. Stores") || strings.Index(got, "## 8. Stores") > strings.Index(got, "## Setup") {
		t.Error("section 8 is not before Setup")
	}
	// Run again on its own output: section 8, its rows and the header
	// line are replaced, not added again.
	if again := storesOnlyReport(t, []byte(got)); again != got {
		t.Errorf("a second stores-only run over the first's file changed it:\n%s", again)
	}
}

// Without a file to replace, a stores-only run writes section 8 and its
// targets alone.
func TestWriteBenchmarks_StoresOnlyFirst(t *testing.T) {
	got := storesOnlyReport(t, nil)
	mustContain(t, got, "## Targets", "NAR redirects/s ≥ 0.9×", "## 8. Stores")
	if strings.Contains(got, "## 1.") {
		t.Error("a stores-only run wrote section 1")
	}
}

// A full run writes section 8 with the others, and its targets with
// theirs; a later run with --lookups-only carries it over with the date of
// the run that made it.
func TestWriteBenchmarks_StoresInFullRun(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/bench")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"stores.json", "redirects.jsonl", "redirect-lookup-1.json", "redirect-lookup-2.json",
		"redirect-wrk-1.json", "redirect-wrk-2.json", "stores-edge-bench.txt", "backfill.jsonl"} {
		b, err := os.ReadFile(filepath.Join("testdata/bench-stores", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := loadtest.ReadBenchResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	var full bytes.Buffer
	if err := loadtest.WriteBenchmarks(&full, r, readPrevious(t)); err != nil {
		t.Fatal(err)
	}
	got := full.String()
	mustContain(t, got, "## 7. ", "## 8. Stores", "| 0 allocations per NAR redirect in the handler benchmark (GeoIP ranking) | 0 allocs/op (`BenchmarkServer_NarRedirect/geoip`) | yes |")
	if strings.Index(got, "## 8. Stores") < strings.Index(got, "## 7. ") {
		t.Error("section 8 comes before section 7")
	}

	r, err = loadtest.ReadBenchResults(lookupsOnly(t))
	if err != nil {
		t.Fatal(err)
	}
	var carried bytes.Buffer
	if err := loadtest.WriteBenchmarks(&carried, r, full.Bytes()); err != nil {
		t.Fatal(err)
	}
	c := carried.String()
	_, sec8, _ := strings.Cut(c, "## 8. Stores")
	sec8, _, _ = strings.Cut(sec8, "\n## ")
	if sec8 == "" || strings.Contains(sec8, "Not re-run") || !strings.Contains(sec8, "*Made by the run of 2026-11-30 05:00 UTC") {
		t.Errorf("section 8 carried over as:\n%s", sec8)
	}
	mustContain(t, c, "backfill into S3 ≥ 0.8× `rclone copy` (2000 payloads of 1-64 KiB, 8 in parallel)")
}

// A run with --dashboard-only writes section 9 and its target (made-up
// times: the slowest median is 150 ms, under 200), and keeps every other
// section of the file it replaces; run again on its own output, it
// changes nothing.
func TestWriteBenchmarks_DashboardOnly(t *testing.T) {
	previous := readPrevious(t)
	r, err := loadtest.ReadBenchResults("testdata/bench-dashboard")
	if err != nil {
		t.Fatal(err)
	}
	write := func(previous []byte) string {
		var b bytes.Buffer
		if err := loadtest.WriteBenchmarks(&b, r, previous); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	got := write(previous)
	mustContain(t, got,
		"Section 9 and its targets were made by another run, `bash loadtest/bench.sh --dashboard-only` on 2026-12-03 10:00 UTC, and say so.",
		"| every dashboard query < 200 ms on a year of counts (1000000 paths, 10 edges, 50 countries, 365 days) | slowest median of 3 queries: top paths, 365 days, 150.0 ms (its slowest run 260.0 ms) | yes (run of 2026-12-03 10:00 UTC) |",
		"## 9. Dashboard queries on a year of fetch counts",
		"| top paths, 365 days | 150.0 ms | 260.0 ms | 20 |",
		"| fetch_window | 3500000 |",
		"$T/narthex loadtest dashboard --database-url postgres://postgres@127.0.0.1:2/dashboard --json",
	)
	for i, sec := range strings.SplitAfter(string(previous), "\n## ") {
		if i == 0 || strings.HasPrefix(sec, "Targets") {
			continue
		}
		if !strings.Contains(got, strings.TrimSuffix(sec, "\n## ")) {
			t.Errorf("the section %q of the previous file was not kept as it was", strings.SplitN(sec, "\n", 2)[0])
		}
	}
	if i, j := strings.Index(got, "## 9. Dashboard"), strings.Index(got, "## Setup"); i < 0 || j >= 0 && i > j {
		t.Error("section 9 is not before Setup")
	}
	if again := write([]byte(got)); again != got {
		t.Errorf("a second dashboard-only run over the first's file changed it:\n%s", again)
	}
	// A stores-only run over it keeps section 9 and its row.
	stores := storesOnlyReport(t, []byte(got))
	mustContain(t, stores, "## 9. Dashboard queries", "every dashboard query < 200 ms", "## 8. Stores")
	if strings.Index(stores, "## 8. Stores") > strings.Index(stores, "## 9. Dashboard") {
		t.Error("section 8 is not before section 9")
	}
}
