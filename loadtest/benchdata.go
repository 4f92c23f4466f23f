package loadtest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// BenchFacts describes the machine and the run of bench.sh, as the script
// wrote them into facts.json of its results folder.
type BenchFacts struct {
	Command    string   `json:"command"` // how the script was run
	Date       string   `json:"date"`
	NProc      int      `json:"nproc"`
	CPU        string   `json:"cpu"`
	Memory     string   `json:"memory"`     // as written by earlier runs; MemoryKiB now
	MemoryKiB  int64    `json:"memory_kib"` // MemTotal of /proc/meminfo
	OS         string   `json:"os"`
	Kernel     string   `json:"kernel"`
	Go         string   `json:"go"`
	Nginx      string   `json:"nginx"`
	PostgreSQL string   `json:"postgresql"`
	Nix        string   `json:"nix"`
	Commit     string   `json:"commit"`
	Dirty      int      `json:"dirty"` // tracked files modified when built
	RuntimeS   int      `json:"runtime_s"`
	Loads      []string `json:"loads"` // "stage: 1 5 15 minute load averages"
	Reps       int      `json:"reps"`
	Duration   string   `json:"duration"` // of each lookup run
	// NginxNofile and NginxCacheMax are what nginx.conf got: its open-file
	// limit and open_file_cache size.
	NginxNofile   int `json:"nginx_nofile"`
	NginxCacheMax int `json:"nginx_cache_max"`
	// Sets are the key sets of the lookups, by name ("hot", "uniform").
	Sets []BenchSet `json:"sets"`
	// EdgeEngine is the default of `narthex edge --http-engine`, as
	// `narthex edge --help` states it: the engine of an edge started
	// without the flag.
	EdgeEngine string `json:"edge_engine"`
	// EdgeEngineFallback is the warning the default edge logged when it
	// could not answer with that engine and answered with another; empty
	// when it logged none.
	EdgeEngineFallback string `json:"edge_engine_fallback"`
	// Edges are the edges of the closed loops, the default one ("edge")
	// first.
	Edges []BenchEdge `json:"edges"`
	// LagLookups are the settings of the lag runs under lookups.
	LagLookups BenchLagLookups `json:"lag_lookups"`
	// StoresOnly tells a run that made section 8 alone (--stores-only).
	StoresOnly bool `json:"stores_only"`
	// DashboardOnly tells a run that made section 9 alone
	// (--dashboard-only).
	DashboardOnly bool `json:"dashboard_only"`
	// GCOnly tells a run that made section 10 alone (--gc-only).
	GCOnly bool `json:"gc_only"`
	// HTTPSOnly tells a run that made section 11 alone (--https-only).
	HTTPSOnly bool `json:"https_only"`
}

// BenchEdge is one edge of the lookups and what sets it apart from the
// default one.
type BenchEdge struct {
	Name string `json:"name"` // as lookups.jsonl names the server
	// Engine is its --http-engine; empty when it was started without the
	// flag, on the default (BenchFacts.EdgeEngine).
	Engine string `json:"http_engine"`
	// Env is the environment it was started with beyond the script's
	// ("GOMAXPROCS=1"); empty for none.
	Env string `json:"env"`
}

// BenchSet is one set of lookup keys: the first Keys paths of seed 1 and
// as many miss keys.
type BenchSet struct {
	Name string `json:"name"`
	Keys int    `json:"keys"`
}

// BenchRun is one line of lookups.jsonl: a lookup or wrk command, its
// JSON output in File, and which server each of its results is.
type BenchRun struct {
	ID        string   `json:"id"`
	Set       string   `json:"set"`
	Scenario  string   `json:"scenario"` // hits, misses or mixed
	Mode      string   `json:"mode"`     // c64 (closed loop), seq (1 connection), open (half load), lag (open loop beside a lag run)
	Generator string   `json:"generator"`
	Rep       int      `json:"rep"`
	Servers   []string `json:"servers"` // in the order of the results
	File      string   `json:"file"`
}

// benchResult is what the report needs of one server's result, from
// either generator's JSON.
type benchResult struct {
	URL           string        `json:"url"`
	Rate          float64       `json:"rate"`
	Throughput    float64       `json:"throughput"`
	Latency       Latency       `json:"latency"`
	Errors        int64         `json:"errors"` // lookup: wrong answers
	Late          int64         `json:"late"`
	CPUPerRequest time.Duration `json:"server_cpu_per_request_ns"`
	// lookup's connections made during the run, per second and the
	// server's CPU per connection (see LookupResult).
	ConnectRate   float64       `json:"connect_rate"`
	CPUPerConnect time.Duration `json:"server_cpu_per_connect_ns"`
	// wrk's: its wrong answers are judged from the count of non-2xx.
	Non2xx         *int64 `json:"non2xx"`
	ExpectedNon2xx int64  `json:"expected_non2xx"`
	SocketErrors   int64  `json:"socket_errors"`
}

// wrong is the number of wrong answers; for wrk exact only at hit ratio
// 0 or 1, where every answer's status is known.
func (r benchResult) wrong(scenario string) int64 {
	if r.Non2xx == nil {
		return r.Errors
	}
	n := r.SocketErrors
	if scenario != "mixed" {
		d := *r.Non2xx - r.ExpectedNon2xx
		n += max(d, -d)
	}
	return n
}

// benchCell is one result of one run.
type benchCell struct {
	run    BenchRun
	server string
	res    benchResult
	// wakeup is the machine's timer wakeup latency measured beside the
	// run (cyclictest, <id>.wakeup.txt); nil when the run has none.
	wakeup *Latency
}

// BenchResults is what a results folder holds.
type BenchResults struct {
	Facts    BenchFacts
	cells    []benchCell
	commands map[string]string // by run id, in commands.txt
	order    []string          // command ids in the order they ran
	later    *benchLater       // sections 2 to 7; nil when the run did not make them
	// lagLookups are the lag runs of section 1, with lookups beside them
	// or alone; none in a run that did not make them.
	lagLookups []lagLookupRun
	stores     *benchStores     // section 8; nil when the run did not make it
	dashboard  *DashboardResult // section 9; nil when the run did not make it
	gc         *benchGC         // section 10; nil when the run did not make it
}

// ReadBenchResults reads facts.json, lookups.jsonl and lag-lookups.jsonl
// with the files they name, commands.txt, and the raw results of sections
// 2 to 7 when later.json says the run made them, from dir.
func ReadBenchResults(dir string) (*BenchResults, error) {
	r := &BenchResults{commands: map[string]string{}}
	b, err := os.ReadFile(filepath.Join(dir, "facts.json"))
	if err != nil {
		return nil, fmt.Errorf("bench results: %w", err)
	}
	if err := json.Unmarshal(b, &r.Facts); err != nil {
		return nil, fmt.Errorf("bench results: facts.json: %w", err)
	}
	if r.stores, err = readBenchStores(dir); err != nil {
		return nil, err
	}
	if r.dashboard, err = readBenchDashboard(dir); err != nil {
		return nil, err
	}
	if r.gc, err = readBenchGC(dir); err != nil {
		return nil, err
	}
	if !r.Facts.StoresOnly && !r.Facts.DashboardOnly && !r.Facts.GCOnly {
		if err := r.readRuns(filepath.Join(dir, "lookups.jsonl")); err != nil {
			return nil, err
		}
		if r.lagLookups, err = readLagLookups(dir); err != nil {
			return nil, err
		}
		if r.later, err = readBenchLater(dir); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(filepath.Join(dir, "commands.txt"))
	if err != nil {
		return nil, fmt.Errorf("bench results: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		id, cmd, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			continue
		}
		if _, seen := r.commands[id]; !seen {
			r.order = append(r.order, id)
		}
		r.commands[id] = cmd
	}
	return r, sc.Err()
}

func (r *BenchResults) readRuns(name string) error {
	cells, err := readRunCells(name)
	if err != nil {
		return err
	}
	r.cells = append(r.cells, cells...)
	if len(r.cells) == 0 {
		return errors.New("bench results: no lookup runs")
	}
	return nil
}

// readRunCells reads a manifest of runs (lookups.jsonl, redirects.jsonl)
// and the results of every run it names.
func readRunCells(name string) ([]benchCell, error) {
	var cells []benchCell
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("bench results: %w", err)
	}
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var run BenchRun
		if err := json.Unmarshal([]byte(line), &run); err != nil {
			return nil, fmt.Errorf("bench results: %s line %d: %w", filepath.Base(name), i+1, err)
		}
		out, err := os.ReadFile(filepath.Join(filepath.Dir(name), run.File))
		if err != nil {
			return nil, fmt.Errorf("bench results: %w", err)
		}
		var v struct {
			Results []benchResult `json:"results"`
		}
		if err := json.Unmarshal(out, &v); err != nil {
			return nil, fmt.Errorf("bench results: %s: %w", run.File, err)
		}
		if len(v.Results) != len(run.Servers) {
			return nil, fmt.Errorf("bench results: %s has %d results for %d servers", run.File, len(v.Results), len(run.Servers))
		}
		var wakeup *Latency
		if w, err := os.ReadFile(filepath.Join(filepath.Dir(name), run.ID+".wakeup.txt")); err == nil {
			l, err := parseWakeups(w)
			if err != nil {
				return nil, fmt.Errorf("bench results: %s.wakeup.txt: %w", run.ID, err)
			}
			wakeup = &l
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("bench results: %w", err)
		}
		for j, res := range v.Results {
			cells = append(cells, benchCell{run: run, server: run.Servers[j], res: res, wakeup: wakeup})
		}
	}
	return cells, nil
}

// cellQuery selects cells.
type cellQuery struct{ set, scenario, mode, generator, server string }

func (q cellQuery) match(c benchCell) bool {
	return c.run.Set == q.set && c.run.Scenario == q.scenario && c.run.Mode == q.mode &&
		c.run.Generator == q.generator && c.server == q.server
}

// each returns f of every matching cell, in repetition order, leaving out
// the cells for which f has no value (NaN).
func (r *BenchResults) each(q cellQuery, f func(benchCell) float64) []float64 {
	var v []float64
	for _, c := range r.cells {
		if !q.match(c) {
			continue
		}
		if x := f(c); !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	return v
}

// median of f over the matching cells; ok is false when none matches.
func (r *BenchResults) median(q cellQuery, f func(benchCell) float64) (float64, bool) {
	v := r.each(q, f)
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2], true
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, true
}

// has reports whether any cell matches.
func (r *BenchResults) has(q cellQuery) bool { return len(r.each(q, throughput)) > 0 }

// firstRun is the id of repetition 1 of the matching runs.
func (r *BenchResults) firstRun(q cellQuery) string {
	for _, c := range r.cells {
		if q.match(c) && c.run.Rep == 1 {
			return c.run.ID
		}
	}
	return ""
}

func throughput(c benchCell) float64 { return c.res.Throughput }
func cpuPerReq(c benchCell) float64  { return float64(c.res.CPUPerRequest) }
func p50(c benchCell) float64        { return float64(c.res.Latency.P50) }
func p99(c benchCell) float64        { return float64(c.res.Latency.P99) }
func p999(c benchCell) float64       { return float64(c.res.Latency.P999) }
func latMax(c benchCell) float64     { return float64(c.res.Latency.Max) }
func rate(c benchCell) float64       { return c.res.Rate }
func late(c benchCell) float64       { return float64(c.res.Late) }
func wrong(c benchCell) float64      { return float64(c.res.wrong(c.run.Scenario)) }

// wakeupOf is f of the machine's wakeup latency beside the cell's run;
// each over the cells of a query keeps only the cells that have it.
func wakeupOf(f func(Latency) time.Duration) func(benchCell) float64 {
	return func(c benchCell) float64 {
		if c.wakeup == nil {
			return missing
		}
		return float64(f(*c.wakeup))
	}
}

// HalfMax is half the median closed-loop throughput (64 connections,
// `loadtest lookup`) of server on set and scenario, from the runs that
// lookups.jsonl of dir lists so far: the rate bench.sh asks of it in the
// open loop.
func HalfMax(dir, set, scenario, server string) (float64, error) {
	r := &BenchResults{}
	if err := r.readRuns(filepath.Join(dir, "lookups.jsonl")); err != nil {
		return 0, err
	}
	v, ok := r.median(cellQuery{set, scenario, "c64", "lookup", server}, throughput)
	if !ok {
		return 0, fmt.Errorf("bench results: no closed-loop run of %s on the %s set, %s", server, set, scenario)
	}
	return v / 2, nil
}
