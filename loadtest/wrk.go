package loadtest

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

//go:embed bench/wrk.lua
var wrkScript []byte

// maxWrkPaths bounds the list of request paths handed to wrk.
const maxWrkPaths = 1_000_000

// wrkGrace is how long past its duration wrk may take before it is killed.
const wrkGrace = 30 * time.Second

// WrkConfig describes runs of wrk, the C load generator, against one or
// more servers, with the keys Lookup would ask for: a second generator,
// so that no one client's cost decides a comparison.
type WrkConfig struct {
	// URLs are the servers, http:// on loopback without a path prefix;
	// each gets the same run, one after another.
	URLs []string
	// ServerPIDs, when given, has one process id per URL (0: none), whose
	// CPU time (with its descendants') over the run is reported per answer.
	ServerPIDs []int
	// Keys, Seed, HitRatio, Dist and ZipfExponent draw the request paths
	// as LookupConfig's do.
	Keys         int
	Seed         int64
	HitRatio     float64
	Dist         Dist
	ZipfExponent float64
	// Connections and Threads are wrk's -c and -t. Defaults 64 and 1.
	Connections int
	Threads     int
	// Duration is wrk's -d, whole seconds, up to MaxDuration. Required.
	Duration time.Duration
	// Executable is wrk; default "wrk" from PATH.
	Executable string
	// Dir is where the script and the paths are written; default a new
	// temporary folder, removed at the end.
	Dir string
	// NAR asks for NAR files (/nar/<hash>.nar) instead of narinfos, as
	// LookupConfig.NAR does; wrk counts a 302 as a right answer and cannot
	// check where it points.
	NAR bool
	// Headers are added to every request ("Name: value", wrk's -H): wrk
	// cannot choose its source address, so a client a GeoIP database
	// places is stood for by an X-Forwarded-For header to a server that
	// trusts 127.0.0.1 as a proxy.
	Headers []string
}

// WrkResult is what wrk measured against one URL.
type WrkResult struct {
	URL         string        `json:"url"`
	Connections int           `json:"connections"`
	Threads     int           `json:"threads"`
	Keys        int           `json:"keys"`
	HitRatio    float64       `json:"hit_ratio"`
	Dist        Dist          `json:"dist"`
	NAR         bool          `json:"nar,omitempty"`
	Headers     []string      `json:"headers,omitempty"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	Requests    int64         `json:"requests"`
	Throughput  float64       `json:"throughput"`
	// Latency from wrk's histogram (microsecond resolution); Count is
	// Requests.
	Latency Latency `json:"latency"`
	// Non2xx counts answers that were not 2xx or 3xx: the misses, when
	// the server is right. ExpectedNon2xx is the share of miss paths in
	// the list times Requests; wrk does not tell which paths were asked,
	// so it is exact only at hit ratio 0 or 1.
	Non2xx         int64 `json:"non2xx"`
	ExpectedNon2xx int64 `json:"expected_non2xx"`
	SocketErrors   int64 `json:"socket_errors"`
	// ServerCPU and CPUPerRequest as in LookupResult.
	ServerCPU     time.Duration `json:"server_cpu_ns,omitempty"`
	CPUPerRequest time.Duration `json:"server_cpu_per_request_ns,omitempty"`
}

// Validate names the first unusable field.
func (c WrkConfig) Validate() error {
	l := LookupConfig{URLs: c.URLs, Keys: c.Keys, HitRatio: c.HitRatio, Dist: c.Dist, ZipfExponent: c.ZipfExponent,
		Connections: c.Connections, Duration: c.Duration, ServerPIDs: c.ServerPIDs}
	if err := l.Validate(); err != nil {
		return fmt.Errorf("wrk: %w", err)
	}
	switch {
	case c.Duration < time.Second:
		return fmt.Errorf("wrk: Duration %v is below wrk's second", c.Duration)
	case c.Threads < 0 || c.Threads > 64:
		return fmt.Errorf("wrk: Threads %d is outside 1-64", c.Threads)
	case c.Connections != 0 && c.Connections < c.Threads:
		return fmt.Errorf("wrk: %d connections for %d threads", c.Connections, c.Threads)
	}
	for _, h := range c.Headers {
		if name, _, ok := strings.Cut(h, ":"); !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(h, "\r\n") {
			return fmt.Errorf("wrk: header %q is not Name: value", h)
		}
	}
	for _, raw := range c.URLs {
		// The paths in the list are absolute.
		if u, _ := CheckLookupURL(raw); strings.Trim(u.Path, "/") != "" {
			return fmt.Errorf("wrk: %s has a path prefix, which wrk's requests would not carry", raw)
		}
	}
	return nil
}

func (c *WrkConfig) setDefaults() {
	c.Dist = cmp.Or(c.Dist, DistUniform)
	c.ZipfExponent = cmp.Or(c.ZipfExponent, DefaultZipfExponent)
	c.Connections = cmp.Or(c.Connections, 64)
	c.Threads = cmp.Or(c.Threads, 1)
	c.Executable = cmp.Or(c.Executable, "wrk")
}

// Wrk runs wrk against each URL in turn with the same list of paths.
func Wrk(ctx context.Context, cfg WrkConfig) ([]*WrkResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	exe, err := exec.LookPath(cfg.Executable)
	if err != nil {
		return nil, fmt.Errorf("wrk: %w", err)
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "narthex-wrk-"); err != nil {
			return nil, fmt.Errorf("wrk: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	script, paths := filepath.Join(dir, "wrk.lua"), filepath.Join(dir, "paths.txt")
	if err := os.WriteFile(script, wrkScript, 0o644); err != nil {
		return nil, fmt.Errorf("wrk: %w", err)
	}
	misses, n, err := writeWrkPaths(paths, cfg)
	if err != nil {
		return nil, err
	}
	var results []*WrkResult
	for i, raw := range cfg.URLs {
		pid := 0
		if len(cfg.ServerPIDs) > 0 {
			pid = cfg.ServerPIDs[i]
		}
		res, err := wrkOne(ctx, cfg, exe, script, paths, raw, pid)
		if err != nil {
			return results, fmt.Errorf("%s: %w", raw, err)
		}
		res.ExpectedNon2xx = int64(float64(res.Requests) * float64(misses) / float64(n))
		results = append(results, res)
	}
	return results, nil
}

// writeWrkPaths writes twice as many request paths as there are keys (at
// most maxWrkPaths), drawn as the first connection of Lookup draws them,
// and returns how many are misses and how many there are.
func writeWrkPaths(name string, cfg WrkConfig) (misses, n int, err error) {
	keys, err := newKeySet(cfg.Seed, cfg.Keys)
	if err != nil {
		return 0, 0, err
	}
	f, err := os.Create(name)
	if err != nil {
		return 0, 0, fmt.Errorf("wrk: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	p := newPicker(keys, cfg.Dist, cfg.ZipfExponent, cfg.HitRatio, cfg.Seed, 0)
	n = min(2*cfg.Keys, maxWrkPaths)
	for range n {
		key, hit := p.next()
		if !hit {
			misses++
		}
		if cfg.NAR {
			w.WriteString("/nar/")
			w.Write(key)
			w.WriteString(".nar\n")
		} else {
			w.WriteString("/")
			w.Write(key)
			w.WriteString(".narinfo\n")
		}
	}
	if err := w.Flush(); err != nil {
		return 0, 0, fmt.Errorf("wrk: %w", err)
	}
	return misses, n, f.Close()
}

// wrkOne runs wrk once and reads the JSON line the script prints.
func wrkOne(ctx context.Context, cfg WrkConfig, exe, script, paths, url string, pid int) (*WrkResult, error) {
	secs := int(cfg.Duration / time.Second)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+wrkGrace)
	defer cancel()
	args := []string{"-t", strconv.Itoa(cfg.Threads), "-c", strconv.Itoa(cfg.Connections), "-d", strconv.Itoa(secs) + "s"}
	for _, h := range cfg.Headers {
		args = append(args, "-H", h)
	}
	args = append(args, "-s", script, url, "--", paths, strconv.Itoa(cfg.Threads))
	cmd := exec.CommandContext(ctx, exe, args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	cpu, err := startCPUMeter(pid)
	if err != nil {
		return nil, err
	}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("wrk: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	serverCPU, err := cpu.stop()
	if err != nil {
		return nil, err
	}
	res, err := parseWrkOutput(out.Bytes())
	if err != nil {
		return nil, err
	}
	res.URL, res.Connections, res.Threads = url, cfg.Connections, cfg.Threads
	res.Keys, res.HitRatio, res.Dist = cfg.Keys, cfg.HitRatio, cfg.Dist
	res.NAR, res.Headers = cfg.NAR, cfg.Headers
	res.ServerCPU = serverCPU
	if res.Requests > 0 {
		res.CPUPerRequest = serverCPU / time.Duration(res.Requests)
	}
	return res, nil
}

// wrkSummary is the line the script's done() prints.
type wrkSummary struct {
	Requests      int64 `json:"requests"`
	DurationUS    int64 `json:"duration_us"`
	Non2xx        int64 `json:"non2xx"`
	ConnectErrors int64 `json:"connect_errors"`
	ReadErrors    int64 `json:"read_errors"`
	WriteErrors   int64 `json:"write_errors"`
	Timeouts      int64 `json:"timeouts"`
	MeanUS        int64 `json:"mean_us"`
	P50US         int64 `json:"p50_us"`
	P90US         int64 `json:"p90_us"`
	P99US         int64 `json:"p99_us"`
	P999US        int64 `json:"p999_us"`
	MaxUS         int64 `json:"max_us"`
}

// parseWrkOutput reads the last JSON line of wrk's output.
func parseWrkOutput(out []byte) (*WrkResult, error) {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	last := lines[len(lines)-1]
	if !bytes.HasPrefix(last, []byte("{")) {
		return nil, errors.New("wrk: no summary line in its output (is the script its own?)")
	}
	var s wrkSummary
	if err := json.Unmarshal(last, &s); err != nil {
		return nil, fmt.Errorf("wrk: summary: %w", err)
	}
	if s.DurationUS <= 0 {
		return nil, errors.New("wrk: summary without a duration")
	}
	us := func(n int64) time.Duration { return time.Duration(n) * time.Microsecond }
	return &WrkResult{
		Elapsed:      us(s.DurationUS),
		Requests:     s.Requests,
		Throughput:   float64(s.Requests) / us(s.DurationUS).Seconds(),
		Latency:      Latency{Count: s.Requests, Mean: us(s.MeanUS), P50: us(s.P50US), P90: us(s.P90US), P99: us(s.P99US), P999: us(s.P999US), Max: us(s.MaxUS)},
		Non2xx:       s.Non2xx,
		SocketErrors: s.ConnectErrors + s.ReadErrors + s.WriteErrors + s.Timeouts,
	}, nil
}

// WriteWrkTable writes the results side by side.
func WriteWrkTable(w io.Writer, results []*WrkResult) error {
	t := newTable("wrk", append(append([]string{"url", "req/s", "server CPU/req"}, latencyHeader...), "non-2xx", "expected", "socket errors")...)
	for _, r := range results {
		cpu := "–"
		if r.ServerCPU > 0 {
			cpu = fmtDuration(r.CPUPerRequest)
		}
		t.add(append(append([]string{r.URL, fmtRate(r.Throughput), cpu}, r.Latency.cells()...),
			fmtInt(r.Non2xx), fmtInt(r.ExpectedNon2xx), fmtInt(r.SocketErrors))...)
	}
	return t.write(w)
}
