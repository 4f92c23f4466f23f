package loadtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LaterSettings are the settings and counts of the sections after the
// lookups, as bench.sh wrote them into later.json of its results folder.
// The file is there only when the run made those sections.
type LaterSettings struct {
	Quick           int    `json:"quick"` // 1 for a --quick run
	Reps            int    `json:"reps"`
	LagDuration     string `json:"lag_duration"`
	LagRates        []int  `json:"lag_rates"`
	BigDuration     string `json:"big_duration"` // of each lookup run on the lag edge
	SoakDuration    string `json:"soak_duration"`
	SoakKillEvery   string `json:"soak_kill_every"`
	ProfileSeconds  int    `json:"profile_seconds"`
	OriginNarinfos  int64  `json:"origin_narinfos"`   // when the bootstraps ran
	LagEdgeNarinfos int64  `json:"lag_edge_narinfos"` // after the lag runs
	LagEdgeReadyNS  int64  `json:"lag_edge_ready_ns"`
	LagSubscriberDB string `json:"lag_subscriber_db"`
	BigKeys         int    `json:"big_keys"` // the keys of the lag edge's lookups and the soak's
	BigSeed         int    `json:"big_seed"`
	IngestPaths     int    `json:"ingest_paths"`
	IngestSize      int    `json:"ingest_size"` // bytes of payload per path
	LookupKeys      int    `json:"lookup_keys"`
	Tmp             string `json:"tmp"` // the run's temporary folder, written $T
}

// nativeBoot is one native subscriber's initial copy, timed by bench.sh.
type nativeBoot struct {
	ReadyAfter float64 `json:"ready_after_ns"`
	Narinfos   int64   `json:"narinfos"`
	Disk       float64 `json:"disk_bytes"`
}

// memReading is one line of memory.jsonl: an edge's VmRSS and VmHWM at a
// stage of the run.
type memReading struct {
	Edge  string  `json:"edge"` // lookup or lag
	Stage string  `json:"stage"`
	RSS   float64 `json:"rss_bytes"`
	HWM   float64 `json:"hwm_bytes"`
}

// ingestRun is one line of ingest.jsonl: one `nix copy`, timed by bench.sh.
type ingestRun struct {
	Rep    int     `json:"rep"`
	Kind   string  `json:"kind"`   // tiny or payload
	Target string  `json:"target"` // origin, file or sink
	NS     float64 `json:"ns"`
}

// lagKey names one lag run.
type lagKey struct{ rate, rep int }

// benchLater is what a results folder holds of sections 2 to 7.
type benchLater struct {
	LaterSettings
	populate2   *PopulateResult // the origin filled up for the bootstraps, if it was
	bootEdge    []BootstrapResult
	bootNative  []nativeBoot
	lag         map[lagKey]LagResult
	lagAlone    map[string]LagResult // by kind: edge, subscriber
	memory      []memReading
	big         map[string]LookupResult // the lag edge's lookups, by scenario
	heap        map[string]float64      // the Go runtime's figures of the lag edge's heap profile
	ingest      []ingestRun
	ingestPut   IngestResult
	soak        SoakResult
	profile     map[string]LookupResult // by scenario: hits, misses
	texts       map[string]string       // profiles, benchmark output and logs, by file name
	tmp         string
	hasSoak     bool
	hasIngest   bool
	hasProfiles bool
}

// readBenchLater reads the raw results of sections 2 to 7 from dir; it
// returns nil when the run did not make them (no later.json).
func readBenchLater(dir string) (*benchLater, error) {
	b, err := os.ReadFile(filepath.Join(dir, "later.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bench results: %w", err)
	}
	l := &benchLater{lag: map[lagKey]LagResult{}, lagAlone: map[string]LagResult{}, big: map[string]LookupResult{},
		profile: map[string]LookupResult{}, texts: map[string]string{}}
	if err := json.Unmarshal(b, &l.LaterSettings); err != nil {
		return nil, fmt.Errorf("bench results: later.json: %w", err)
	}
	rd := reader{dir: dir}
	if rd.exists("setup-populate2.json") {
		l.populate2 = new(PopulateResult)
		rd.json("setup-populate2.json", l.populate2)
	}
	for rep := 1; rep <= l.Reps; rep++ {
		var e BootstrapResult
		var n nativeBoot
		rd.json(fmt.Sprintf("boot-edge-%d.json", rep), &e)
		rd.json(fmt.Sprintf("boot-native-%d.json", rep), &n)
		l.bootEdge = append(l.bootEdge, e)
		l.bootNative = append(l.bootNative, n)
		for _, rate := range l.LagRates {
			var res LagResult
			rd.json(fmt.Sprintf("lag-%d-%d.json", rate, rep), &res)
			l.lag[lagKey{rate, rep}] = res
		}
	}
	for _, kind := range []string{"edge", "subscriber"} {
		var res LagResult
		rd.json("lag-1000-"+kind+"-alone.json", &res)
		l.lagAlone[kind] = res
	}
	rd.lines("memory.jsonl", func(line []byte) error {
		var m memReading
		err := json.Unmarshal(line, &m)
		l.memory = append(l.memory, m)
		return err
	})
	for _, sc := range benchScenarios {
		l.big[sc] = rd.lookup("lookup-big-" + sc + ".json")
	}
	l.heap = goMemStats(rd.text("big-heap.txt"))
	if l.hasIngest = rd.exists("ingest.jsonl"); l.hasIngest {
		rd.lines("ingest.jsonl", func(line []byte) error {
			var r ingestRun
			err := json.Unmarshal(line, &r)
			l.ingest = append(l.ingest, r)
			return err
		})
		rd.json("ingest-put.json", &l.ingestPut)
	}
	if l.hasSoak = rd.exists("soak.json"); l.hasSoak {
		rd.json("soak.json", &l.soak)
	}
	if l.hasProfiles = rd.exists("edge-bench.txt"); l.hasProfiles {
		for _, sc := range []string{"hits", "misses"} {
			l.profile[sc] = rd.lookup("profile-" + sc + ".json")
			for _, f := range []string{"cpu-" + sc + ".txt", "allocs-" + sc + ".txt"} {
				l.texts[f] = rd.text(f)
			}
		}
		l.texts["edge-bench.txt"] = rd.text("edge-bench.txt")
	}
	for _, f := range benchLogs {
		if rd.exists(f + ".log") {
			l.texts[f+".log"] = rd.text(f + ".log")
		}
	}
	l.tmp = l.Tmp
	if rd.err != nil {
		return nil, fmt.Errorf("bench results: %w", rd.err)
	}
	return l, nil
}

// benchLogs are the narthex processes whose logs the report searches for
// warnings and errors, as bench.sh names them.
var benchLogs = []string{"edge_lookup", "edge_lag", "dev"}

// reader reads the files of a results folder, keeping the first error.
type reader struct {
	dir string
	err error
}

func (rd *reader) exists(name string) bool {
	_, err := os.Stat(filepath.Join(rd.dir, name))
	return err == nil
}

func (rd *reader) text(name string) string {
	b, err := os.ReadFile(filepath.Join(rd.dir, name))
	if err != nil && rd.err == nil {
		rd.err = err
	}
	return string(b)
}

func (rd *reader) json(name string, v any) {
	b := rd.text(name)
	if rd.err != nil {
		return
	}
	if err := json.Unmarshal([]byte(b), v); err != nil {
		rd.err = fmt.Errorf("%s: %w", name, err)
	}
}

// lookup reads the first result of a `loadtest lookup --json` output.
func (rd *reader) lookup(name string) LookupResult {
	var v struct {
		Results []LookupResult `json:"results"`
	}
	rd.json(name, &v)
	if len(v.Results) == 0 {
		if rd.err == nil {
			rd.err = fmt.Errorf("%s: no results", name)
		}
		return LookupResult{}
	}
	return v.Results[0]
}

// lines calls f with every non-empty line of a JSONL file.
func (rd *reader) lines(name string, f func([]byte) error) {
	sc := bufio.NewScanner(strings.NewReader(rd.text(name)))
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := f(sc.Bytes()); err != nil && rd.err == nil {
			rd.err = fmt.Errorf("%s line %d: %w", name, n, err)
		}
	}
}

// goMemStats reads the "# Name = value" lines of a Go heap profile in its
// text form (debug=1).
func goMemStats(profile string) map[string]float64 {
	m := map[string]float64{}
	for _, line := range strings.Split(profile, "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "#" && f[2] == "=" {
			if v, err := strconv.ParseFloat(f[3], 64); err == nil {
				m[f[1]] = v
			}
		}
	}
	return m
}
