package loadtest_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/narthex-cache/narthex/loadtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// report writes the report of the results folder dir, previous being the
// file it replaces, and compares it with the golden file (rewritten with
// -update).
func report(t *testing.T, dir string, previous []byte, golden string) string {
	t.Helper()
	r, err := loadtest.ReadBenchResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := loadtest.WriteBenchmarks(&b, r, previous); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("report differs from %s (-want +got; go test -run %s -update rewrites it):\n%s", golden, t.Name(), diff)
	}
	return b.String()
}

// lookupsOnly copies testdata/bench without later.json, as a run with
// --lookups-only leaves its folder.
func lookupsOnly(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/bench")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "later.json")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readPrevious(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/bench/previous.md")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustContain(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("report lacks %q", w)
		}
	}
}

// The report of a small results folder (testdata/bench: two repetitions of
// every cell, made up so that the medians are easy to check) is the golden
// file: every section written from this run's raw results, every target
// judged from their medians.
func TestWriteBenchmarks(t *testing.T) {
	got := report(t, "testdata/bench", readPrevious(t), "testdata/bench/BENCHMARKS.golden.md")
	mustContain(t, got,
		// Medians of two runs, 10% apart: hot hits, edge 6.30 µs vs nginx 10.5 µs.
		"| server CPU per answer ≤ 0.75× nginx's (hot set, hits) | lookup: edge 6.30 µs, nginx 10.5 µs: 0.60×; wrk: edge 6.30 µs, nginx 10.5 µs: 0.60× | yes |",
		"| throughput ≥ 1.0× nginx (uniform set, hits) | lookup: edge 99750, nginx 105000: 0.95×; wrk: edge 99750, nginx 105000: 0.95× | **no** |",
		"| throughput ≥ 0.95× the ceiling (hot set, misses) | lookup: edge 126000, ceiling-miss 127050: 0.99×;",
		"| p99 ≤ 1 ms at half of the maximum throughput (uniform hits, open loop) | edge p99 800 µs at 50000 req/s; the machine's timer wakeups meanwhile: p99 113 µs, p99.9 2.67 ms | yes |",
		"| p99 ≤ 1 ms at half of the maximum throughput (uniform misses, open loop) | edge p99 800 µs at 50000 req/s | yes |",
		// Later targets from the medians of two runs: lag p50 (500 µs, 600 µs),
		// p99 (60 ms, 70 ms) past its 50 ms.
		"| replication visibility p50 ≤ 5 ms at 1,000 commits/s | edge p50 550 µs (origin achieved 999 commits/s) | yes |",
		"| replication visibility p99 ≤ 50 ms at 1,000 commits/s | edge p99 65.0 ms | **no** |",
		"| bootstrap no slower than the native copy | edge 5.50 s, native 13.00 s: 0.42× | yes |",
		"(100 paths of 64 KiB) | origin 2.83 s, file:// 1.78 s: 1.59× | **no** |",
		"| soak: zero failed lookups, zero lost/torn transactions, memory flat (10 minutes, see [6](#6-soak)) | 600.00 s, victim killed 9 times",
		// Sections from the raw results, with their commands.
		"## 2. Bootstrap of 1000000 narinfos: edge vs native subscriber\n\nThe origin was filled up to 1000000 narinfos by a second `loadtest populate` (seed 2, 93 s).",
		"| time to ready, each run | 5.00 s, 6.00 s | 12.00 s, 14.00 s | |",
		"| 1000 | 999 | edge | 550 µs | 1.10 ms | 65.0 ms | 120.0 ms | 0 | 0 | 1.22× | 6.50× |",
		"| 1000 | 999 | native subscriber | 450 µs | 900 µs | 10.0 ms | 50.0 ms | 2 | 4 |  |  |",
		// The heap profile was empty: its figures are missing.
		"the Go runtime had – from the OS",
		"| payload | origin | 2.83 s | 28.4 ms | 2.70 s, 2.97 s |",
		"**Result: passed.**",
		"| victim | 756091 | 0 | 87002 | 7450 | 0 | 22 | 1 |",
		"The survivor's RSS, a sample about every 30.00 s: 130, 220, 220,",
		"Syscall6 (hits)",
		"BenchmarkServer_Narinfo/miss-2",
		"`edge_lag`: 2 line(s) at WARN or ERROR; the first:\n\n```\ntime=2026-11-30T05:03:01Z level=WARN msg=\"replica slow\" dir=$T/edge-lag\n",
		"$T/narthex loadtest soak --keys 900000",
		// The commands of this run.
		"$T/narthex loadtest wrk --url ... --keys 3000 --hit-ratio 1 --duration 2s --json",
		// The edges side by side, each ÷ the default one: edge-procs1's hot
		// hits, runs of 70000 and 74000 req/s at 5.00 and 5.40 µs.
		"- `edge`: the default: no `--http-engine`, so `uring` (the flag's default, as `narthex edge --help` states it).",
		"- `edge-procs1`: no `--http-engine` either, so `uring`; started with `GOMAXPROCS=1`: the Go runtime runs Go code on one thread at a time",
		"| hot | hits | lookup | 6.30 µs | 6.40 µs | 8.00 µs | 5.20 µs | 1.02× | 1.27× | 0.83× | 105000 | 100000 | 80000 | 72000 | 0.95× | 0.76× | 0.69× |",
		"env GOMAXPROCS=1 $T/narthex edge --name bench_lookup_p1",
		// Lag under lookups at a quarter of the lowest mixed maximum (edge-procs1's
		// median of 60000 and 64000 req/s), each edge's p99 ÷ the default
		// edge's: lag p99 of 14 and 16 ms against 4 and 6 ms.
		"among them (`edge-procs1`'s, 62000 req/s): 15500 req/s.",
		"| edge, no lookups | 500 µs | 2.00 ms | 4.00 ms | 500 | 0 | – | – | – | – | – | – | – | 0.40× | – |",
		"| edge-procs1 | 2.20 ms | 15.0 ms | 50.0 ms | 498 | 2 | 15500 | 14475 | 0 | 400 µs | 4.00 ms | 6.20 µs | 0 | 3.00× | 5.00× |",
		// edge-procs1's lookups achieved 15450 and 13500 req/s of 15500.
		"**The lookups fell behind their schedule**: their median achieved rate was below 95% of the\n15500 req/s asked on `edge-procs1` (14475).",
		"$T/narthex loadtest lookup --url http://127.0.0.1:1011 --server-pid 7 --keys 100000 --seed 1 --hit-ratio 0.5 --connections 64 --rate 15500 --duration 6s --json &\n"+
			"sleep 0.5; $T/narthex loadtest lag --database-url postgres://o --edge http://127.0.0.1:1011 --rate 500 --duration 5s --json\n",
		"([Replication lag while lookups run](#replication-lag-while-lookups-run))",
	)
	for _, gone := range []string{"Old lookup figures", "2.11×", "Not re-run", "Build ID", "goos:"} {
		if strings.Contains(got, gone) {
			t.Errorf("report still has %q", gone)
		}
	}
}

// The report names the default edge's engine as the run recorded it, says
// when another edge was started the same way, and quotes the default
// edge's warning when it answered with another engine.
func TestWriteBenchmarks_EdgeEngine(t *testing.T) {
	for _, tc := range []struct {
		name, engine, fallback string
		want, not              []string
	}{
		{
			name: "evloop by default", engine: "evloop",
			want: []string{
				"- `edge`: the default: no `--http-engine`, so `evloop` (the flag's default",
				"`edge-evloop` was started as `edge` is in this run (`evloop` is the default engine)",
			},
			not: []string{"did not answer with"},
		},
		{
			name: "fell back", engine: "uring", fallback: `time=T level=WARN msg="answering with epoll event loops instead of io_uring"`,
			want: []string{"**The default edge did not answer with `uring`**: it logged at start\n`time=T level=WARN msg=\"answering"},
			not:  []string{"was started as `edge` is"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := lookupsOnly(t)
			name := filepath.Join(dir, "facts.json")
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			var facts map[string]any
			if err := json.Unmarshal(b, &facts); err != nil {
				t.Fatal(err)
			}
			facts["edge_engine"], facts["edge_engine_fallback"] = tc.engine, tc.fallback
			if b, err = json.Marshal(facts); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, b, 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := loadtest.ReadBenchResults(dir)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := loadtest.WriteBenchmarks(&out, r, nil); err != nil {
				t.Fatal(err)
			}
			mustContain(t, out.String(), tc.want...)
			for _, s := range tc.not {
				if strings.Contains(out.String(), s) {
					t.Errorf("report has %q", s)
				}
			}
		})
	}
}

// A run with --lookups-only writes section 1 and carries the others over
// from the file it replaces, with the date of the run that made them.
func TestWriteBenchmarks_Carried(t *testing.T) {
	got := report(t, lookupsOnly(t), readPrevious(t), "testdata/bench/BENCHMARKS.carried.golden.md")
	mustContain(t, got,
		// Not re-run: carried over with their date, the lookup rows left out.
		"| bootstrap of 1,000,000 narinfos ≤ 30 s | edge 5.63 s for 1000000 narinfos | yes (run of 2026-11-23 17:48 UTC) |",
		"## 2. Bootstrap of 1000000 narinfos: edge vs native subscriber\n\n*Not re-run: from the run of 2026-11-23 17:48 UTC",
		"## Warnings and errors logged by narthex during the run\n\n*Not re-run",
	)
	for _, gone := range []string{"Old lookup figures", "2.11×", "A profile.\n\n## 7"} {
		if strings.Contains(got, gone) {
			t.Errorf("report still has %q", gone)
		}
	}
}

// A report carried over twice keeps the date of the run that made the
// section, and marks it once.
func TestWriteBenchmarks_CarriedTwice(t *testing.T) {
	r, err := loadtest.ReadBenchResults(lookupsOnly(t))
	if err != nil {
		t.Fatal(err)
	}
	var once, twice bytes.Buffer
	if err := loadtest.WriteBenchmarks(&once, r, readPrevious(t)); err != nil {
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
