package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
)

// GCRunConfig says how to collect the graph `loadtest gc` wrote while an
// origin takes uploads on top of it and an edge answers lookups from it.
type GCRunConfig struct {
	// DatabaseURL is the database `loadtest gc` filled, on loopback, which
	// the origin and the edge serve. Required.
	DatabaseURL string `json:"-"`
	// OriginURL and EdgeURL are the origin and the edge on that database;
	// Token an upload token of the origin. Required.
	OriginURL string `json:"origin_url"`
	Token     string `json:"-"`
	EdgeURL   string `json:"edge_url"`
	// Paths, Roots and Seed are those of the `loadtest gc` run that wrote
	// the graph: uploads reference its paths, lookups ask for its live
	// ones.
	Paths int   `json:"paths"`
	Roots int   `json:"roots"`
	Seed  int64 `json:"seed"`
	// Executable is the narthex binary that runs `gc`; default this one.
	Executable string `json:"-"`
	// GCArgs are the flags of `narthex gc` beyond --json (the database
	// comes in its environment).
	GCArgs []string `json:"gc_args"`
	// Uploaders upload at UploadRate per second in total, each upload a
	// NAR file of NarSize bytes and a narinfo referencing three live
	// paths and, during the collection, GarbageShare of the time a
	// garbage one.
	Uploaders    int     `json:"uploaders"`
	UploadRate   float64 `json:"upload_rate"`
	NarSize      int     `json:"nar_size"`
	GarbageShare float64 `json:"garbage_share"`
	// LookupRate narinfo GETs per second on LookupConnections, HitRatio of
	// them for live paths, the rest for paths nobody has.
	LookupRate        float64 `json:"lookup_rate"`
	LookupConnections int     `json:"lookup_connections"`
	HitRatio          float64 `json:"hit_ratio"`
	// Baseline is how long the same load runs before the collection.
	Baseline time.Duration `json:"baseline_ns"`
	// Timeout bounds the collection.
	Timeout time.Duration `json:"timeout_ns"`
}

// The load unless told otherwise: what a busy origin takes and a busy
// edge answers, well below what this machine can do, so that the
// latencies show the collection and not a saturated machine.
const (
	DefaultGCRunUploaders    = 8
	DefaultGCRunUploadRate   = 50
	DefaultGCRunNarSize      = 1024
	DefaultGCRunGarbageShare = 0.1
	DefaultGCRunLookupRate   = 1000
	DefaultGCRunConnections  = 8
	DefaultGCRunHitRatio     = 0.5
	DefaultGCRunBaseline     = 60 * time.Second
	DefaultGCRunTimeout      = 30 * time.Minute
)

func (c *GCRunConfig) setDefaults() {
	orDefault(&c.Paths, DefaultGCPaths)
	orDefault(&c.Roots, DefaultGCRoots)
	orDefault(&c.Seed, DefaultGCSeed)
	orDefault(&c.Uploaders, DefaultGCRunUploaders)
	orDefault(&c.NarSize, DefaultGCRunNarSize)
	orDefault(&c.LookupConnections, DefaultGCRunConnections)
	orDefault(&c.UploadRate, DefaultGCRunUploadRate)
	orDefault(&c.GarbageShare, DefaultGCRunGarbageShare)
	orDefault(&c.LookupRate, DefaultGCRunLookupRate)
	orDefault(&c.HitRatio, DefaultGCRunHitRatio)
	orDefault(&c.Baseline, DefaultGCRunBaseline)
	orDefault(&c.Timeout, DefaultGCRunTimeout)
}

// Validate names the first unusable field.
func (c GCRunConfig) Validate() error {
	switch {
	case c.DatabaseURL == "":
		return errors.New("gc run: DatabaseURL is empty")
	case c.Token == "":
		return errors.New("gc run: no upload token")
	case c.Paths < 1000 || c.Paths > MaxPopulateCount:
		return fmt.Errorf("gc run: Paths %d is outside 1000-%d", c.Paths, MaxPopulateCount)
	case c.Uploaders < 1 || c.Uploaders > 64:
		return fmt.Errorf("gc run: Uploaders %d is outside 1-64", c.Uploaders)
	case c.UploadRate <= 0 || c.UploadRate > 10_000 || c.LookupRate <= 0 || c.LookupRate > 100_000:
		return errors.New("gc run: UploadRate must be in (0, 10000], LookupRate in (0, 100000]")
	case c.GarbageShare < 0 || c.GarbageShare > 1 || c.HitRatio < 0 || c.HitRatio > 1:
		return errors.New("gc run: GarbageShare and HitRatio must be 0-1")
	case c.Baseline <= 0 || c.Baseline > MaxDuration || c.Timeout <= 0 || c.Timeout > MaxDuration:
		return fmt.Errorf("gc run: Baseline and Timeout must be in (0, %v]", MaxDuration)
	}
	for _, u := range []string{c.OriginURL, c.EdgeURL} {
		if _, err := CheckURL(u); err != nil {
			return fmt.Errorf("gc run: %w", err)
		}
	}
	return CheckDatabaseURL(c.DatabaseURL)
}

// GCRunResult is the load before and during the collection, what the
// collector said, and what the database holds after.
type GCRunResult struct {
	Config   GCRunConfig `json:"config"`
	Baseline GCPhase     `json:"baseline"`
	During   GCPhase     `json:"during"`
	// GC is the collector's --json, as it printed it; Collection the
	// time from its start to its exit.
	GC         GCStats         `json:"gc"`
	GCRaw      json.RawMessage `json:"gc_raw"`
	Collection time.Duration   `json:"collection_ns"`
	After      GCAfter         `json:"after"`
}

// GCStats are the fields of `narthex gc --json` the report reads.
type GCStats struct {
	DryRun          bool    `json:"dry_run"`
	RootsExpired    int64   `json:"roots_expired"`
	Live            int64   `json:"live"`
	Garbage         int64   `json:"garbage"`
	PathsSwept      int64   `json:"paths_swept"`
	PathsKept       int64   `json:"paths_kept"`
	FilesUnlisted   int64   `json:"files_unlisted"`
	FilesRetired    int64   `json:"files_retired"`
	ObjectsFreed    int64   `json:"objects_freed"`
	BytesFreed      int64   `json:"bytes_freed"`
	ObjectsFenced   int64   `json:"objects_fenced"`
	BytesFenced     int64   `json:"bytes_fenced"`
	ObjectsFailed   int64   `json:"objects_failed"`
	MarkSeconds     float64 `json:"mark_seconds"`
	SweepSeconds    float64 `json:"sweep_seconds"`
	PayloadSeconds  float64 `json:"payload_seconds"`
	Batches         int64   `json:"batches"`
	MaxBatchSeconds float64 `json:"max_batch_seconds"`
}

// GCPhase is the uploads and lookups of one phase.
type GCPhase struct {
	Elapsed time.Duration `json:"elapsed_ns"`
	Uploads *IngestResult `json:"uploads"`
	Lookups *LookupResult `json:"lookups"`
}

// GCAfter is what the database holds after the collection.
type GCAfter struct {
	Narinfos int64 `json:"narinfos"`
	// Dangling counts references to a path that is not there: none, by
	// the foreign key, unless something is badly wrong.
	Dangling int64 `json:"dangling"`
	// Reachable is what the unexpired roots reach: every path of their
	// closures, the graph's live half, when none was lost.
	Reachable int64 `json:"reachable"`
	Live      int64 `json:"live"` // the graph's
	// Accepted counts the uploads of both phases the origin took, and
	// Uploaded those of their paths still there (all of them, being
	// within the grace); GarbageLeft the graph's garbage still there,
	// which uploads made live by referencing it.
	Accepted    int64 `json:"accepted"`
	Uploaded    int64 `json:"uploaded"`
	GarbageLeft int64 `json:"garbage_left"`
	// Unreachable is what a mark with the collector's seeds finds now:
	// garbage the collection left behind.
	Unreachable int64 `json:"unreachable"`
	Roots       int64 `json:"roots"` // unexpired ones, and expired ones left
	NarFiles    int64 `json:"nar_files"`
	Locations   int64 `json:"payload_locations"`
}

// Passed tells whether nothing was lost and no garbage was left.
func (a GCAfter) Passed() bool {
	return a.Dangling == 0 && a.Reachable == a.Live && a.Unreachable == 0 && a.Uploaded == a.Accepted
}

// GCRun runs the load of cfg for cfg.Baseline, then again while `narthex
// gc` collects the database, and checks the database after.
func GCRun(ctx context.Context, cfg GCRunConfig) (*GCRunResult, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("gc run: %w", err)
		}
		cfg.Executable = exe
	}
	g, err := newGCGraph(cfg.Paths, cfg.Roots, cfg.Seed)
	if err != nil {
		return nil, err
	}
	res := &GCRunResult{Config: cfg}
	load := newGCLoad(cfg, g)
	if res.Baseline, err = load.run(ctx, 0, cfg.Baseline, nil); err != nil {
		return res, fmt.Errorf("gc run: baseline: %w", err)
	}
	var out bytes.Buffer
	start := time.Now()
	res.During, err = load.run(ctx, 1, cfg.Timeout, func(ctx context.Context) error {
		err := runGC(ctx, cfg, &out)
		res.Collection = time.Since(start)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("gc run: collection: %w", err)
	}
	res.GCRaw = bytes.TrimSpace(out.Bytes())
	if err := json.Unmarshal(res.GCRaw, &res.GC); err != nil {
		return res, fmt.Errorf("gc run: the collector's output: %w", err)
	}
	hashes := append(res.Baseline.Uploads.Hashes, res.During.Uploads.Hashes...)
	if res.After, err = checkAfterGC(ctx, cfg, g, hashes); err != nil {
		return res, err
	}
	return res, nil
}

// runGC runs `narthex gc --json` and its GCArgs, its stdout into out; its
// stderr goes to this process's.
func runGC(ctx context.Context, cfg GCRunConfig, out *bytes.Buffer) error {
	cmd := exec.CommandContext(ctx, cfg.Executable, append([]string{"gc", "--json"}, cfg.GCArgs...)...)
	cmd.Env = append(os.Environ(), "NARTHEX_DATABASE_URL="+cfg.DatabaseURL, "NARTHEX_DATABASE_URL_FILE=")
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("narthex gc: %w", err)
	}
	return nil
}

// gcLoad is the uploads and lookups of a run.
type gcLoad struct {
	cfg           GCRunConfig
	synth         *Synth
	live, garbage []int
}

func newGCLoad(cfg GCRunConfig, g *gcGraph) *gcLoad {
	l := &gcLoad{cfg: cfg, synth: NewSynth(cfg.Seed, 0)}
	for i, live := range g.live {
		if live {
			l.live = append(l.live, i)
		} else {
			l.garbage = append(l.garbage, i)
		}
	}
	return l
}

// refs are the references of upload k of phase: three live paths and,
// during the collection (phase 1), GarbageShare of the time a garbage
// one; the baseline references none, so that the collection finds the
// graph's garbage whole.
func (l *gcLoad) refs(phase, k int) []string {
	rng := rand.New(rand.NewPCG(uint64(l.cfg.Seed)<<8|uint64(phase), uint64(k)))
	var refs []int
	for range 3 {
		refs = append(refs, l.live[rng.IntN(len(l.live))])
	}
	if phase == 1 && rng.Float64() < l.cfg.GarbageShare {
		refs = append(refs, l.garbage[rng.IntN(len(l.garbage))])
	}
	names := make([]string, 0, len(refs))
	for _, j := range refs {
		name := l.synth.Hash(j) + "-" + l.synth.Name(j)
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// run runs the uploads and the lookups for d, or, with work, until work
// returns (and d at most).
func (l *gcLoad) run(ctx context.Context, phase int, d time.Duration, work func(context.Context) error) (GCPhase, error) {
	var p GCPhase
	c := l.cfg
	loadCtx, stop := context.WithCancel(ctx)
	defer stop()
	eg, egCtx := errgroup.WithContext(loadCtx)
	start := time.Now()
	eg.Go(func() error {
		res, err := Ingest(egCtx, IngestConfig{
			URL: c.OriginURL, Token: c.Token, Count: MaxIngestCount, NarSize: c.NarSize,
			Concurrency: c.Uploaders, Duration: d, Rate: c.UploadRate, AllowRefused: true,
			References: func(k int) []string { return l.refs(phase, k) },
		})
		p.Uploads = res
		return ignoreStopped(loadCtx, ctx, err)
	})
	eg.Go(func() error {
		res, err := Lookup(egCtx, LookupConfig{
			URLs: []string{c.EdgeURL}, Keys: len(l.live), HitPaths: l.live, Seed: c.Seed,
			HitRatio: c.HitRatio, Rate: c.LookupRate, Connections: c.LookupConnections, Duration: d,
		})
		if len(res) == 1 {
			p.Lookups = res[0]
		}
		return ignoreStopped(loadCtx, ctx, err)
	})
	if work != nil {
		eg.Go(func() error {
			defer stop()
			return work(ctx)
		})
	}
	err := eg.Wait()
	p.Elapsed = time.Since(start)
	if err == nil && (p.Uploads == nil || p.Lookups == nil) {
		err = errors.New("the load did not run")
	}
	return p, err
}

// ignoreStopped is err, but nil when the load was stopped on purpose
// (loadCtx ended, ctx did not).
func ignoreStopped(loadCtx, ctx context.Context, err error) error {
	if err != nil && loadCtx.Err() != nil && ctx.Err() == nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// checkMark is the mark that looks for garbage left after a collection,
// and the session settings of every check: without them, a recursive
// query over the graph takes minutes (see markWays).
var checkMark = markWay{Name: "walk", Walk: true, Analyze: true, Settings: []string{"jit=off", "work_mem=256MB"}}

// checkAfterGC counts what the database holds after the collection.
func checkAfterGC(ctx context.Context, cfg GCRunConfig, g *gcGraph, uploaded []string) (GCAfter, error) {
	a := GCAfter{Live: int64(g.Live), Accepted: int64(len(uploaded))}
	conn, err := checkMark.connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return a, fmt.Errorf("gc run: %w", err)
	}
	defer conn.Close(context.Background())
	for _, q := range []struct {
		into  *int64
		query string
		args  []any
	}{
		{&a.Narinfos, "SELECT count(*) FROM narinfo", nil},
		{&a.Dangling, qGCDangling, nil},
		{&a.Reachable, qGCReachable, nil},
		{&a.Uploaded, "SELECT count(*) FROM narinfo WHERE hash = ANY ($1)", []any{uploaded}},
		{&a.Roots, "SELECT count(*) FROM root", nil},
		{&a.NarFiles, "SELECT count(*) FROM nar_file", nil},
		{&a.Locations, "SELECT count(*) FROM payload_location", nil},
	} {
		if err := conn.QueryRow(ctx, q.query, q.args...).Scan(q.into); err != nil {
			return a, fmt.Errorf("gc run: check: %w", err)
		}
	}
	a.GarbageLeft = a.Narinfos - a.Reachable - a.Uploaded
	m, err := checkMark.mark(ctx, conn, markSeeds{grace: DefaultGCGrace}, false)
	if err != nil {
		return a, fmt.Errorf("gc run: mark after: %w", err)
	}
	a.Unreachable = m.GarbageRows
	return a, nil
}

// WriteTable writes the result as Markdown.
func (r *GCRunResult) WriteTable(w io.Writer) error {
	c, g, a := r.Config, r.GC, r.After
	fmt.Fprintf(w, "`narthex gc %s`: mark %.1f s, sweep %.1f s, payloads %.1f s, %.1f s from start to exit; %d live, %d garbage, "+
		"%d paths swept and %d kept, %d expired roots removed, %d NAR files unlisted and %d retired, "+
		"%d objects freed, %d fenced and %d failed; %d batches, the longest %.2f s.\n\n",
		strings.Join(c.GCArgs, " "), g.MarkSeconds, g.SweepSeconds, g.PayloadSeconds, r.Collection.Seconds(), g.Live, g.Garbage,
		g.PathsSwept, g.PathsKept, g.RootsExpired, g.FilesUnlisted, g.FilesRetired, g.ObjectsFreed, g.ObjectsFenced, g.ObjectsFailed,
		g.Batches, g.MaxBatchSeconds)
	fmt.Fprintf(w, "Load: %d uploaders at %.0f uploads/s (NAR files of %d bytes; each narinfo references 3 live paths and, "+
		"during the collection %.0f%% of the time a garbage one), and %.0f edge lookups/s on %d connections, %.0f%% for live paths.\n\n",
		c.Uploaders, c.UploadRate, c.NarSize, 100*c.GarbageShare, c.LookupRate, c.LookupConnections, 100*c.HitRatio)
	fmt.Fprintln(w, "| phase | length | uploads accepted | refused (4xx) | failed | upload p50 | p99 | max | lookups | wrong | lookup p50 | p99 | max |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, p := range []struct {
		name string
		ph   GCPhase
	}{{"before (baseline)", r.Baseline}, {"during the collection", r.During}} {
		u, l := p.ph.Uploads, p.ph.Lookups
		if u == nil || l == nil {
			continue
		}
		fmt.Fprintf(w, "| %s | %.0f s | %d | %d | %d | %s | %s | %s | %d | %d | %s | %s | %s |\n", p.name, p.ph.Elapsed.Seconds(),
			u.Succeeded, u.Refused, u.Errors, fmtDuration(u.Upload.P50), fmtDuration(u.Upload.P99), fmtDuration(u.Upload.Max),
			l.Answered, l.Errors, fmtDuration(l.Latency.P50), fmtDuration(l.Latency.P99), fmtDuration(l.Latency.Max))
	}
	fmt.Fprintf(w, "\nAfter: %d narinfos; %d dangling references; the unexpired roots reach %d paths (the graph's live half: %d); "+
		"%d uploaded paths of %d accepted there; %d garbage paths left, made live by uploads; a mark with the collector's seeds finds %d garbage; "+
		"%d roots, %d NAR files, %d payload locations. Checks %s.\n",
		a.Narinfos, a.Dangling, a.Reachable, a.Live, a.Uploaded, a.Accepted, a.GarbageLeft, a.Unreachable, a.Roots, a.NarFiles, a.Locations,
		passedFailed(a.Passed()))
	return nil
}

func passedFailed(ok bool) string {
	if ok {
		return "passed"
	}
	return "FAILED"
}
