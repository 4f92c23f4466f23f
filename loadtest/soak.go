package loadtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Defaults of a soak.
const (
	DefaultSoakEdge         = "loadtest_soak" // prefix of the names of its two edges
	DefaultSoakDuration     = 10 * time.Minute
	DefaultSoakCommitRate   = 500
	DefaultKillEvery        = time.Minute
	DefaultLookupShare      = 0.8
	DefaultSoakMeasure      = 5 * time.Second
	DefaultSoakGrace        = time.Minute
	DefaultSoakReadyTimeout = 10 * time.Minute
	DefaultSoakProbe        = time.Millisecond
)

// MaxSoakTransactions bounds the transactions of a soak.
const MaxSoakTransactions = 2_000_000

// maxSoakTxPaths is the most paths in one soak transaction; each has 1 to
// maxSoakTxPaths, evenly.
const maxSoakTxPaths = 4

// The survivor's memory is flat when the median RSS of the soak's last
// window exceeds that of the window after the warm-up by no more than
// rssGrowthShare of it or rssGrowthSlack, whichever is larger.
const (
	rssGrowthShare = 0.10
	rssGrowthSlack = 16 << 20
)

// tornWait is how long the torn check waits for the first path of a
// sampled transaction to show before it gives the sample up.
const tornWait = 10 * time.Second

// sweepConns is how many connections per edge check every committed path
// at the end.
const sweepConns = 4

// sweepExtra bounds the time the check at the end takes after the grace
// period: it asks for every committed path once, then again for the
// missing ones.
const sweepExtra = 10 * time.Minute

// soakAnswerTimeout bounds the wait for a lookup's answer, past the end of
// the soak.
const soakAnswerTimeout = time.Minute

// victimDownPause spaces the torn check's probes of an edge that is down.
const victimDownPause = 10 * time.Millisecond

// ErrSoakFailed is returned, wrapped with the reasons, when a soak ran to
// its end but one of its checks failed; the result holds the details.
var ErrSoakFailed = errors.New("soak failed")

// SoakConfig describes a soak: two edges of the origin, lookups against one
// (the survivor) at a share of its maximum for the whole run, commits at
// the origin at a fixed rate, and the other edge (the victim) killed with
// SIGKILL and restarted on its replica at a fixed period.
type SoakConfig struct {
	// DatabaseURL is the origin database, on loopback, as a role with
	// REPLICATION; it holds the Keys paths of Seed (loadtest populate).
	// Required. It reaches the edges through their environment.
	DatabaseURL string
	// Keys, Seed and HitRatio are the lookups' keys, as for Lookup.
	// Keys is required; HitRatio 0 means 0.5.
	Keys     int
	Seed     int64
	HitRatio float64
	// Duration of the soak, up to MaxDuration. Default DefaultSoakDuration.
	Duration time.Duration
	// CommitRate is transactions per second, each of 1 to 4 new paths.
	// Default DefaultSoakCommitRate.
	CommitRate float64
	// CommitConnections commit, one transaction in flight on each.
	// Default DefaultCommitConnections.
	CommitConnections int
	// KillEvery is the period of the victim's SIGKILL, at most Duration.
	// Default DefaultKillEvery.
	KillEvery time.Duration
	// LookupShare is the share of the survivor's maximum lookup throughput
	// (closed loop, measured for MeasureFor before the soak while the
	// commits run) asked of it during the soak, in an open loop. Default
	// DefaultLookupShare.
	LookupShare float64
	// LookupConnections carry the lookups. Default 64.
	LookupConnections int
	// MeasureFor is the length of the maximum's measurement. Default
	// DefaultSoakMeasure.
	MeasureFor time.Duration
	// MemoryEvery spaces the samples of the survivor's RSS. Default
	// Duration/50, between 10 ms and 5 s.
	MemoryEvery time.Duration
	// ProbeInterval is the least time between two probes of an edge by the
	// torn check while it waits for a transaction. Default
	// DefaultSoakProbe.
	ProbeInterval time.Duration
	// Grace is how long after the schedule the edges may take to show every
	// committed path. Default DefaultSoakGrace.
	Grace time.Duration
	// ReadyTimeout bounds each wait for an edge's /readyz: the first
	// bootstraps and each restart. Default DefaultSoakReadyTimeout.
	ReadyTimeout time.Duration
	// EdgeName prefixes the edges' names (<name>_survivor, <name>_victim);
	// no edge may have those. Default DefaultSoakEdge.
	EdgeName string
	// Dir holds the run's folder (replicas and logs), removed afterwards
	// but for the logs of a failed run. Default the system's temporary
	// folder.
	Dir string
	// Executable is the narthex binary to run "edge" with. Default this
	// program.
	Executable string
}

func (c *SoakConfig) setDefaults() error {
	if c.DatabaseURL == "" {
		return errors.New("soak: DatabaseURL is empty")
	}
	if err := CheckDatabaseURL(c.DatabaseURL); err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	if c.HitRatio == 0 {
		c.HitRatio = 0.5
	}
	c.Duration = cmp.Or(c.Duration, DefaultSoakDuration)
	c.CommitRate = cmp.Or(c.CommitRate, DefaultSoakCommitRate)
	c.CommitConnections = cmp.Or(c.CommitConnections, DefaultCommitConnections)
	c.KillEvery = cmp.Or(c.KillEvery, DefaultKillEvery)
	c.LookupShare = cmp.Or(c.LookupShare, DefaultLookupShare)
	c.LookupConnections = cmp.Or(c.LookupConnections, 64)
	c.MeasureFor = cmp.Or(c.MeasureFor, DefaultSoakMeasure)
	c.MemoryEvery = cmp.Or(c.MemoryEvery, min(max(c.Duration/50, 10*time.Millisecond), 5*time.Second))
	c.ProbeInterval = cmp.Or(c.ProbeInterval, DefaultSoakProbe)
	c.Grace = cmp.Or(c.Grace, DefaultSoakGrace)
	c.ReadyTimeout = cmp.Or(c.ReadyTimeout, DefaultSoakReadyTimeout)
	c.EdgeName = cmp.Or(c.EdgeName, DefaultSoakEdge)
	switch {
	case c.Keys < 1 || c.Keys > MaxKeys:
		return fmt.Errorf("soak: Keys %d is outside 1-%d", c.Keys, MaxKeys)
	case !(c.HitRatio > 0 && c.HitRatio <= 1):
		return fmt.Errorf("soak: HitRatio %v is outside (0, 1]", c.HitRatio)
	case c.Duration < 0 || c.Duration > MaxDuration:
		return fmt.Errorf("soak: Duration %v is outside (0, %v]", c.Duration, MaxDuration)
	case !(c.CommitRate > 0) || math.IsInf(c.CommitRate, 0):
		return fmt.Errorf("soak: CommitRate %v is not a rate", c.CommitRate)
	case c.CommitRate*c.Duration.Seconds() > MaxSoakTransactions:
		return fmt.Errorf("soak: %v at %v transactions/s is more than %d transactions", c.Duration, c.CommitRate, MaxSoakTransactions)
	case c.CommitConnections < 0 || c.CommitConnections > maxCommitConnections:
		return fmt.Errorf("soak: CommitConnections %d is outside 1-%d", c.CommitConnections, maxCommitConnections)
	case c.KillEvery < 100*time.Millisecond || c.KillEvery > c.Duration:
		return fmt.Errorf("soak: KillEvery %v is outside [100ms, Duration %v]", c.KillEvery, c.Duration)
	case !(c.LookupShare > 0 && c.LookupShare <= 1):
		return fmt.Errorf("soak: LookupShare %v is outside (0, 1]", c.LookupShare)
	case c.LookupConnections < 0 || c.LookupConnections > 10_000:
		return fmt.Errorf("soak: LookupConnections %d is outside 1-10000", c.LookupConnections)
	case c.MeasureFor < 0 || c.MeasureFor > time.Minute:
		return fmt.Errorf("soak: MeasureFor %v is outside (0, 1m]", c.MeasureFor)
	case c.MemoryEvery < 0 || c.MemoryEvery > c.Duration/10:
		return fmt.Errorf("soak: MemoryEvery %v is outside (0, Duration/10]", c.MemoryEvery)
	case c.ProbeInterval < 0 || c.ProbeInterval > maxProbeInterval:
		return fmt.Errorf("soak: ProbeInterval %v is outside (0, %v]", c.ProbeInterval, maxProbeInterval)
	case c.Grace < 0 || c.Grace > MaxDuration:
		return fmt.Errorf("soak: Grace %v is outside (0, %v]", c.Grace, MaxDuration)
	case c.ReadyTimeout < 0 || c.ReadyTimeout > MaxDuration:
		return fmt.Errorf("soak: ReadyTimeout %v is outside (0, %v]", c.ReadyTimeout, MaxDuration)
	case !edgeNamePattern.MatchString(c.EdgeName + "_survivor"):
		return fmt.Errorf("soak: edge name %q is not 1-31 characters of [a-z0-9_]", c.EdgeName)
	}
	if c.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("soak: find narthex: %w", err)
		}
		c.Executable = exe
	}
	return nil
}

// SoakResult is what a soak found.
type SoakResult struct {
	Duration  time.Duration `json:"duration_ns"`
	KillEvery time.Duration `json:"kill_every_ns"`
	Narinfos  int64         `json:"narinfos"` // in the origin at the start
	Survivor  SoakEdge      `json:"survivor"`
	Victim    SoakEdge      `json:"victim"`

	// MaxLookupRate is the survivor's closed-loop throughput before the
	// soak, under its commits (Measure); LookupRate, LookupShare of it, was
	// asked during the soak, in an open loop (Lookups).
	MaxLookupRate float64       `json:"max_lookup_rate"`
	LookupShare   float64       `json:"lookup_share"`
	LookupRate    float64       `json:"lookup_rate"`
	Measure       *LookupResult `json:"measure"`
	Lookups       *LookupResult `json:"lookups"`
	// FailedLookups are the survivor's wrong answers and requests without
	// an answer, in the measurement and the soak.
	FailedLookups int64 `json:"failed_lookups"`

	// CommitRate transactions per second were asked, over
	// CommitConnections; Transactions of the Scheduled were committed,
	// with Paths new paths in all, at AchievedCommitRate. CommitLatency
	// runs from each transaction's intended time to its acknowledgement.
	CommitRate         float64 `json:"commit_rate"`
	CommitConnections  int     `json:"commit_connections"`
	Scheduled          int64   `json:"scheduled"`
	Transactions       int64   `json:"transactions"`
	Paths              int64   `json:"paths"`
	AchievedCommitRate float64 `json:"achieved_commit_rate"`
	CommitLatency      Latency `json:"commit_latency"`

	Restarts []SoakRestart `json:"restarts"`
	// RestartReady summarizes the restarts' ReadyAfter.
	RestartReady Latency    `json:"restart_ready"`
	Memory       SoakMemory `json:"memory"`

	// Failures are the checks that failed, one line each; Passed when none.
	Failures []string `json:"failures"`
	Passed   bool     `json:"passed"`
}

// SoakEdge is what the checks found on one edge.
type SoakEdge struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Bootstraps counts "bootstrap started" in the edge's log, over all its
	// processes: 1 when no restart needed a new replica.
	Bootstraps int `json:"bootstraps"`
	// Verified paths were each found by a probe after the soak; Lost
	// transactions had a path that never showed within the grace period,
	// LostPaths such paths; Partial of the lost ones had other paths
	// showing, a torn state at rest.
	Verified  int64    `json:"verified_paths"`
	Lost      int64    `json:"lost_transactions"`
	LostPaths int64    `json:"lost_paths"`
	Partial   int64    `json:"partial_transactions"`
	FirstLost string   `json:"first_lost,omitempty"`
	Torn      SoakTorn `json:"torn"`
}

// SoakTorn is the torn check of one edge during the soak: it samples
// transactions of several paths as they are acknowledged, probes the
// first path until it shows, then every other path at once; one that is
// missing then is a torn transaction, since paths never disappear.
type SoakTorn struct {
	Samples int64 `json:"samples"` // transactions judged
	// Caught were judged right as they became visible: the first path was
	// still missing at the first probe.
	Caught int64 `json:"caught"`
	Torn   int64 `json:"torn"`
	// Interrupted samples were not judged: a probe failed, or the edge was
	// killed in between. Unresolved ones did not show within tornWait.
	Interrupted int64  `json:"interrupted"`
	Unresolved  int64  `json:"unresolved"`
	Probes      int64  `json:"probes"`
	FirstTorn   string `json:"first_torn,omitempty"`
}

// SoakRestart is one SIGKILL and restart of the victim.
type SoakRestart struct {
	KilledAt   time.Duration `json:"killed_at_ns"`   // since the soak started
	ReadyAfter time.Duration `json:"ready_after_ns"` // from the new process's start to /readyz 200
	Downtime   time.Duration `json:"downtime_ns"`    // from SIGKILL to /readyz 200
}

// SoakMemory is the survivor's RSS over the soak. The run is cut in
// windows of Window (a minute, or a fifth of a shorter run): the first is
// the warm-up, the second the baseline, and the last is compared with it.
type SoakMemory struct {
	Every          time.Duration `json:"every_ns"`
	Window         time.Duration `json:"window_ns"`
	Samples        []RSSSample   `json:"samples"`
	WarmupMedian   int64         `json:"warmup_median_bytes"`
	BaselineMedian int64         `json:"baseline_median_bytes"`
	LastMedian     int64         `json:"last_median_bytes"`
	Max            int64         `json:"max_bytes"`
	// Limit is the baseline plus the growth allowed; Flat when the last
	// median is at most Limit.
	Limit int64 `json:"limit_bytes"`
	Flat  bool  `json:"flat"`
}

// RSSSample is one reading of VmRSS.
type RSSSample struct {
	At  time.Duration `json:"at_ns"` // since the soak started
	RSS int64         `json:"rss_bytes"`
}

// soakRun is the state of one soak.
type soakRun struct {
	cfg      SoakConfig
	dir      string
	survivor *childEdge
	victim   *childEdge // replaced at each restart; read by others only after the killer ends
	specs    [2]edgeSpec
	// victimGen grows before each SIGKILL, so that a check that read it
	// before and after its probes knows one process answered them all.
	victimGen atomic.Int64
	synth     *Synth
	first     []int // transaction k holds paths [first[k], first[k+1])
	start     time.Time
	end       time.Time
}

// Soak starts two edges on the origin, measures the survivor's maximum
// lookup throughput, then for cfg.Duration sends it lookups at
// cfg.LookupShare of that maximum while transactions of 1 to 4 new paths
// are committed at cfg.CommitRate, and the victim is SIGKILLed and
// restarted on its replica every cfg.KillEvery. It checks that every
// lookup of the survivor was answered right, that both edges show every
// path of every committed transaction within cfg.Grace of the end, that no
// transaction was seen torn, that the survivor's RSS stayed flat, and that
// no restart of the victim needed a new bootstrap. A failed check returns
// the result and an error wrapping ErrSoakFailed; anything that stops the
// soak itself returns only an error.
//
// The edges are stopped and their slots dropped at the end; the paths
// stay in the cache.
func Soak(ctx context.Context, cfg SoakConfig) (*SoakResult, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	// Nothing may outlast the two waits for edges, the measurement, the
	// soak, the grace period and the final check.
	ctx, cancel := context.WithTimeout(ctx, 2*cfg.ReadyTimeout+cfg.MeasureFor+cfg.Duration+cfg.Grace+sweepExtra)
	defer cancel()
	db, err := pgx.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("soak: connect: %w", err)
	}
	defer db.Close(context.Background())
	res := &SoakResult{Duration: cfg.Duration, KillEvery: cfg.KillEvery, LookupShare: cfg.LookupShare,
		CommitRate: cfg.CommitRate, CommitConnections: cfg.CommitConnections}
	if err := soakPreflight(ctx, db, cfg, res); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(cfg.Dir, "narthex-soak-")
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	r := &soakRun{cfg: cfg, dir: dir}
	failed := true
	defer func() {
		if failed {
			// Keep the logs of a failed run, not the replicas.
			for _, s := range r.specs {
				os.RemoveAll(s.replica)
			}
			return
		}
		os.RemoveAll(dir)
	}()
	err = r.run(ctx, db, res)
	if res.Survivor.Name != "" {
		err = errors.Join(err, forgetEdge(db, res.Survivor.Name), forgetEdge(db, res.Victim.Name))
	}
	if err != nil {
		return nil, fmt.Errorf("%w (edge logs in %s)", err, dir)
	}
	if len(res.Failures) > 0 {
		return res, fmt.Errorf("%w: %s (edge logs in %s)", ErrSoakFailed, strings.Join(res.Failures, "; "), dir)
	}
	failed = false
	return res, nil
}

// soakPreflight checks that the origin holds the lookups' hit keys and
// that the edges' names are free.
func soakPreflight(ctx context.Context, db *pgx.Conn, cfg SoakConfig, res *SoakResult) error {
	for _, i := range []int{0, cfg.Keys - 1} {
		var ok bool
		if err := db.QueryRow(ctx, qPathPresent, Hash(cfg.Seed, i)).Scan(&ok); err != nil {
			return fmt.Errorf("soak: %w", err)
		}
		if !ok {
			return fmt.Errorf("soak: the origin lacks path %d of seed %d: populate %d paths of that seed first", i, cfg.Seed, cfg.Keys)
		}
	}
	if err := db.QueryRow(ctx, qCountNarinfos).Scan(&res.Narinfos); err != nil {
		return fmt.Errorf("soak: count narinfos: %w", err)
	}
	for _, name := range []string{cfg.EdgeName + "_survivor", cfg.EdgeName + "_victim"} {
		if slots, err := edgeSlots(ctx, db, name); err != nil {
			return err
		} else if len(slots) > 0 {
			return fmt.Errorf("soak: edge %s already has replication slots (%s); choose another edge name",
				name, strings.Join(slots, ", "))
		}
	}
	return nil
}

// run starts the edges, runs the soak and the checks, and stops the edges.
func (r *soakRun) run(ctx context.Context, db *pgx.Conn, res *SoakResult) error {
	cfg := r.cfg
	for i, role := range []string{"survivor", "victim"} {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return err
		}
		name := cfg.EdgeName + "_" + role
		r.specs[i] = edgeSpec{executable: cfg.Executable, databaseURL: cfg.DatabaseURL, name: name,
			replica: filepath.Join(r.dir, role), addr: addr, log: filepath.Join(r.dir, role+".log")}
	}
	res.Survivor = SoakEdge{Name: r.specs[0].name, URL: "http://" + r.specs[0].addr}
	res.Victim = SoakEdge{Name: r.specs[1].name, URL: "http://" + r.specs[1].addr}
	var err error
	if r.survivor, err = startEdge(r.specs[0]); err != nil {
		return err
	}
	defer func() { r.survivor.stop() }()
	if r.victim, err = startEdge(r.specs[1]); err != nil {
		return err
	}
	defer func() { r.victim.stop() }()
	for _, e := range []*childEdge{r.survivor, r.victim} {
		if _, err := e.waitReady(ctx, cfg.ReadyTimeout); err != nil {
			return fmt.Errorf("soak: %w", err)
		}
	}

	keys, err := newKeySet(cfg.Seed, cfg.Keys)
	if err != nil {
		return err
	}
	survivorURL, _ := CheckURL(res.Survivor.URL)
	if err := r.soak(ctx, keys, survivorURL, res); err != nil {
		return err
	}
	if err := r.sweep(ctx, res); err != nil {
		return err
	}
	stopErr := errors.Join(r.survivor.stop(), r.victim.stop())
	for i, e := range []*SoakEdge{&res.Survivor, &res.Victim} {
		b, err := os.ReadFile(r.specs[i].log)
		if err != nil {
			return fmt.Errorf("soak: %w", err)
		}
		e.Bootstraps = strings.Count(string(b), `msg="bootstrap started"`)
	}
	res.judge()
	return stopErr
}

// soak runs the commits, the lookups, the kills, the memory samples and
// the torn checks for the duration. The survivor's maximum is measured
// first, for MeasureFor, under the same commits: the lookups' share is of
// what it serves while it applies them.
func (r *soakRun) soak(ctx context.Context, keys *keySet, survivorURL *url.URL, res *SoakResult) error {
	cfg := r.cfg
	total := int(cfg.CommitRate * (cfg.MeasureFor + cfg.Duration).Seconds())
	total = max(total, 1)
	r.synth = newSideSynth(domainSoak, time.Now().UnixNano())
	sizes := rand.New(rand.NewPCG(uint64(r.synth.Seed), uint64(domainSoak)))
	r.first = make([]int, total+1)
	for k := range total {
		r.first[k+1] = r.first[k] + 1 + sizes.IntN(maxSoakTxPaths)
	}
	conns, err := connectCommitters(ctx, cfg.DatabaseURL, cfg.CommitConnections)
	if err != nil {
		return fmt.Errorf("soak: connect: %w", err)
	}
	defer closeConns(conns)
	c := newCommitter(total, cfg.CommitRate, func(k int) []SynthPath {
		paths := make([]SynthPath, 0, r.first[k+1]-r.first[k])
		for i := r.first[k]; i < r.first[k+1]; i++ {
			paths = append(paths, r.synth.Path(i))
		}
		return paths
	})
	tornWakes := [2]<-chan struct{}{c.watch(), c.watch()}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
		cancel()
	}
	// The commits begin with the measurement; the soak proper, its kills
	// and memory samples, at r.start.
	c.start = time.Now()
	r.start = c.start.Add(cfg.MeasureFor)
	r.end = r.start.Add(cfg.Duration)
	c.end = r.end
	// The lookups and the torn checks stop with the schedule.
	checkCtx, checkCancel := context.WithDeadline(runCtx, r.end)
	defer checkCancel()
	wg.Go(func() {
		if err := c.run(runCtx, conns); err != nil {
			fail(fmt.Errorf("soak: commit: %w", err))
		}
	})
	wg.Go(func() {
		mcfg := LookupConfig{URLs: []string{res.Survivor.URL}, Keys: cfg.Keys, Seed: cfg.Seed, HitRatio: cfg.HitRatio,
			Connections: cfg.LookupConnections, Duration: cfg.MeasureFor}
		mcfg.setDefaults()
		m, err := lookupOne(checkCtx, mcfg, keys, survivorURL)
		if err != nil {
			fail(fmt.Errorf("soak: measure the survivor: %w", err))
			return
		}
		m.URL = res.Survivor.URL
		res.Measure, res.MaxLookupRate = m, m.Throughput
		res.LookupRate = math.Floor(cfg.LookupShare * res.MaxLookupRate)
		if !(res.LookupRate >= 1) {
			fail(fmt.Errorf("soak: the survivor answered %v lookups/s: %s", res.MaxLookupRate, m.FirstError))
			return
		}
		// A generator that fell behind its timeline stops sending at the
		// end all the same (what it did not send is not a failure), and
		// waits up to soakAnswerTimeout for the answers in flight.
		lcfg := LookupConfig{URLs: []string{res.Survivor.URL}, Keys: cfg.Keys, Seed: cfg.Seed, HitRatio: cfg.HitRatio,
			Connections: cfg.LookupConnections, Duration: time.Until(r.end), Rate: res.LookupRate, Timeout: soakAnswerTimeout}
		lcfg.setDefaults()
		l, err := lookupOne(checkCtx, lcfg, keys, survivorURL)
		if err != nil {
			fail(fmt.Errorf("soak: lookups: %w", err))
			return
		}
		l.URL = res.Survivor.URL
		res.Lookups = l
	})
	wg.Go(func() {
		if err := r.killer(runCtx, res); err != nil {
			fail(err)
		}
	})
	wg.Go(func() { res.Memory = r.sampleMemory(runCtx) })
	for i, e := range []*SoakEdge{&res.Survivor, &res.Victim} {
		gen := &r.victimGen
		if i == 0 {
			gen = nil
		}
		wg.Go(func() { e.Torn = r.tornCheck(checkCtx, c, e.URL, gen, tornWakes[i]) })
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	n, latency := c.summary()
	res.Scheduled, res.Transactions, res.CommitLatency = int64(total), n, latency
	res.Paths = int64(r.first[n])
	if n > 1 {
		first, last := slices.Min(c.acks[:n]), slices.Max(c.acks[:n])
		if last > first {
			res.AchievedCommitRate = float64(n-1) / (last - first).Seconds()
		}
	}
	return nil
}

// killer SIGKILLs the victim every KillEvery until the end of the soak and
// restarts it on the same replica and address, waiting until it is ready.
func (r *soakRun) killer(ctx context.Context, res *SoakResult) error {
	ready := newHistogram()
	defer func() { res.RestartReady = ready.summary() }()
	for at := r.start.Add(r.cfg.KillEvery); at.Before(r.end); at = at.Add(r.cfg.KillEvery) {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(at)):
		}
		if !time.Now().Before(r.end) {
			// A restart that took longer than the period leaves the next
			// kill behind; none goes past the end.
			return nil
		}
		r.victimGen.Add(1)
		killed := time.Now()
		r.victim.kill()
		e, err := startEdge(r.specs[1])
		if err != nil {
			return fmt.Errorf("soak: restart: %w", err)
		}
		r.victim = e
		after, err := e.waitReady(ctx, r.cfg.ReadyTimeout)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("soak: restart %d: %w", len(res.Restarts)+1, err)
		}
		res.Restarts = append(res.Restarts, SoakRestart{KilledAt: killed.Sub(r.start), ReadyAfter: after, Downtime: time.Since(killed)})
		ready.record(after)
	}
	return nil
}

// sampleMemory reads the survivor's RSS every MemoryEvery until the end.
func (r *soakRun) sampleMemory(ctx context.Context) SoakMemory {
	var samples []RSSSample
	for at := r.start; !at.After(r.end); at = at.Add(r.cfg.MemoryEvery) {
		select {
		case <-ctx.Done():
			return summarizeRSS(samples, r.cfg.Duration, r.cfg.MemoryEvery)
		case <-time.After(time.Until(at)):
		}
		rss, _, err := processMemory(r.survivor.cmd.Process.Pid)
		if err == nil {
			samples = append(samples, RSSSample{At: time.Since(r.start), RSS: rss})
		}
	}
	return summarizeRSS(samples, r.cfg.Duration, r.cfg.MemoryEvery)
}

// summarizeRSS judges the samples of a run of duration d.
func summarizeRSS(samples []RSSSample, d, every time.Duration) SoakMemory {
	w := min(time.Minute, d/5)
	m := SoakMemory{Every: every, Window: w, Samples: samples}
	median := func(from, to time.Duration) int64 {
		var v []int64
		for _, s := range samples {
			if s.At >= from && s.At < to {
				v = append(v, s.RSS)
			}
		}
		if len(v) == 0 {
			return 0
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	m.WarmupMedian = median(0, w)
	m.BaselineMedian = median(w, 2*w)
	m.LastMedian = median(d-w, d+every)
	for _, s := range samples {
		m.Max = max(m.Max, s.RSS)
	}
	m.Limit = m.BaselineMedian + max(int64(rssGrowthShare*float64(m.BaselineMedian)), rssGrowthSlack)
	m.Flat = m.BaselineMedian > 0 && m.LastMedian > 0 && m.LastMedian <= m.Limit
	return m
}

// hashOfPath is the hash of soak path i.
func (r *soakRun) hashOfPath(i int) string { return hashOf(domainSoak, r.synth.Seed, int64(i)) }

// tornCheck samples transactions of several paths as they are
// acknowledged, on the edge at url, until ctx ends. gen, when not nil,
// grows whenever the edge is killed.
func (r *soakRun) tornCheck(ctx context.Context, c *committer, url string, gen *atomic.Int64, wake <-chan struct{}) SoakTorn {
	var t SoakTorn
	u, _ := CheckURL(url)
	deadline, _ := ctx.Deadline()
	p := newEdgeProber(url, u, deadline.Add(dialTimeout))
	defer p.close()
	var next time.Time
	probe := func(hash string) (bool, error) {
		if wait := time.Until(next); wait > 0 {
			pause(wait)
		}
		next = time.Now().Add(r.cfg.ProbeInterval)
		t.Probes++
		return p.visible(ctx, hash)
	}
	last := -1 // the last transaction sampled
	for ctx.Err() == nil {
		k := -1
		n := int(c.committed.Load())
		for j := n - 1; j > last && j >= n-16; j-- {
			if r.first[j+1]-r.first[j] >= 2 {
				k = j
				break
			}
		}
		if k < 0 {
			select {
			case <-ctx.Done():
			case <-wake:
			}
			continue
		}
		last = k
		var g0 int64
		if gen != nil {
			g0 = gen.Load()
		}
		verdict := r.judgeTx(ctx, k, probe)
		if gen != nil && gen.Load() != g0 && verdict != txUnresolved {
			verdict = txInterrupted
		}
		switch verdict {
		case txWhole, txWholeCaught:
			t.Samples++
			if verdict == txWholeCaught {
				t.Caught++
			}
		case txTorn, txTornCaught:
			t.Samples++
			t.Torn++
			if verdict == txTornCaught {
				t.Caught++
			}
			if t.FirstTorn == "" {
				t.FirstTorn = r.describeTx(k)
			}
		case txInterrupted:
			t.Interrupted++
			pause(victimDownPause)
		case txUnresolved:
			t.Unresolved++
		}
	}
	return t
}

// txVerdict is what the torn check found of one transaction.
type txVerdict int

const (
	txWhole       txVerdict = iota // every path showed with the first
	txWholeCaught                  // so, and the first was missing at first
	txTorn                         // the first path showed, another not
	txTornCaught
	txInterrupted // a probe failed, or ctx ended
	txUnresolved  // the first path did not show within tornWait
)

// judgeTx probes the first path of transaction k until it shows, then each
// other path once, in order.
func (r *soakRun) judgeTx(ctx context.Context, k int, probe func(string) (bool, error)) txVerdict {
	caught := false
	giveUp := time.Now().Add(tornWait)
	for {
		ok, err := probe(r.hashOfPath(r.first[k]))
		switch {
		case err != nil || ctx.Err() != nil:
			return txInterrupted
		case ok:
			for i := r.first[k] + 1; i < r.first[k+1]; i++ {
				ok, err := probe(r.hashOfPath(i))
				switch {
				case err != nil:
					return txInterrupted
				case !ok && caught:
					return txTornCaught
				case !ok:
					return txTorn
				}
			}
			if caught {
				return txWholeCaught
			}
			return txWhole
		}
		caught = true
		if time.Now().After(giveUp) {
			return txUnresolved
		}
	}
}

// describeTx names transaction k and its paths.
func (r *soakRun) describeTx(k int) string {
	var hashes []string
	for i := r.first[k]; i < r.first[k+1]; i++ {
		hashes = append(hashes, r.hashOfPath(i))
	}
	return fmt.Sprintf("transaction %d (%s)", k, strings.Join(hashes, ", "))
}

// sweep waits, up to the grace period, for both edges to show the last
// committed path, then asks each edge for every committed path, and again
// for the missing ones until the grace period is over.
func (r *soakRun) sweep(ctx context.Context, res *SoakResult) error {
	n := int(res.Transactions)
	paths := r.first[n]
	graceEnd := time.Now().Add(r.cfg.Grace)
	for _, e := range []*SoakEdge{&res.Survivor, &res.Victim} {
		u, _ := CheckURL(e.URL)
		deadline := graceEnd.Add(sweepExtra)
		if n > 0 {
			p := newEdgeProber(e.URL, u, deadline)
			for time.Now().Before(graceEnd) && ctx.Err() == nil {
				if ok, _ := p.visible(ctx, r.hashOfPath(paths-1)); ok {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			p.close()
		}
		// Every path once, on sweepConns connections.
		missing := make([][]int, sweepConns)
		errs := make([]error, sweepConns)
		var wg sync.WaitGroup
		for w := range sweepConns {
			wg.Go(func() {
				p := newEdgeProber(e.URL, u, deadline)
				defer p.close()
				for i := w; i < paths && ctx.Err() == nil; i += sweepConns {
					ok, err := p.visible(ctx, r.hashOfPath(i))
					if err != nil {
						errs[w] = fmt.Errorf("soak: check %s: %w", e.Name, err)
						return
					}
					if !ok {
						missing[w] = append(missing[w], i)
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		lost := slices.Concat(missing...)
		slices.Sort(lost)
		// The missing ones again, until the grace period is over.
		p := newEdgeProber(e.URL, u, deadline)
		for len(lost) > 0 && time.Now().Before(graceEnd) && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			lost = slices.DeleteFunc(lost, func(i int) bool {
				ok, _ := p.visible(ctx, r.hashOfPath(i))
				return ok
			})
		}
		p.close()
		e.Verified = int64(paths - len(lost))
		e.LostPaths = int64(len(lost))
		r.countLost(e, lost)
	}
	return nil
}

// countLost turns the missing paths (sorted) into lost and partial
// transactions.
func (r *soakRun) countLost(e *SoakEdge, lost []int) {
	for j := 0; j < len(lost); {
		k := sort.SearchInts(r.first, lost[j]+1) - 1
		m := 0
		for j < len(lost) && lost[j] < r.first[k+1] {
			j++
			m++
		}
		e.Lost++
		if m < r.first[k+1]-r.first[k] {
			e.Partial++
		}
		if e.FirstLost == "" {
			e.FirstLost = r.describeTx(k)
		}
	}
}

// judge fills in the failed checks.
func (res *SoakResult) judge() {
	var f []string
	if res.Measure != nil {
		res.FailedLookups += res.Measure.Errors
	}
	if res.Lookups != nil {
		res.FailedLookups += res.Lookups.Errors
	}
	if res.FailedLookups > 0 {
		first := ""
		for _, l := range []*LookupResult{res.Measure, res.Lookups} {
			if l != nil && l.FirstError != "" && first == "" {
				first = " (first: " + l.FirstError + ")"
			}
		}
		f = append(f, fmt.Sprintf("%d failed lookups on the survivor%s", res.FailedLookups, first))
	}
	for _, e := range []*SoakEdge{&res.Survivor, &res.Victim} {
		if e.Lost > 0 {
			f = append(f, fmt.Sprintf("%d of %d transactions lost on %s (%d paths; %d partly visible): first %s",
				e.Lost, res.Transactions, e.Name, e.LostPaths, e.Partial, e.FirstLost))
		}
		if e.Torn.Torn > 0 {
			f = append(f, fmt.Sprintf("%d torn transactions seen on %s: first %s", e.Torn.Torn, e.Name, e.Torn.FirstTorn))
		}
		if e.Bootstraps != 1 {
			f = append(f, fmt.Sprintf("%s bootstrapped %d times, want 1", e.Name, e.Bootstraps))
		}
	}
	if m := res.Memory; !m.Flat {
		f = append(f, fmt.Sprintf("survivor memory not flat: RSS median %s after warm-up, %s at the end (limit %s)",
			fmtBytes(m.BaselineMedian), fmtBytes(m.LastMedian), fmtBytes(m.Limit)))
	}
	res.Failures = f
	res.Passed = len(f) == 0
}

// WriteTable writes the result as tables.
func (r *SoakResult) WriteTable(w io.Writer) error {
	verdict := "passed"
	if !r.Passed {
		verdict = "FAILED: " + strings.Join(r.Failures, "; ")
	}
	head := newTable(fmt.Sprintf("soak of %s: %s", fmtDuration(r.Duration), verdict))
	head.add("narinfos in the origin at the start", fmtInt(r.Narinfos))
	head.add("survivor", r.Survivor.Name+" "+r.Survivor.URL)
	head.add("victim (SIGKILLed every "+fmtDuration(r.KillEvery)+")", r.Victim.Name+" "+r.Victim.URL)

	l := newTable("lookups on the survivor")
	if m := r.Measure; m != nil {
		l.add("maximum (closed loop, "+fmt.Sprintf("%d connections, %s", m.Connections, fmtDuration(m.Elapsed))+")", fmtRate(r.MaxLookupRate)+" req/s")
	}
	l.add(fmt.Sprintf("asked during the soak (%.0f%%, open loop)", 100*r.LookupShare), fmtRate(r.LookupRate)+" req/s")
	if s := r.Lookups; s != nil {
		l.add("achieved", fmtRate(s.Throughput)+" req/s")
		l.add("requests", fmt.Sprintf("%d of %d on the timeline (%d hits, %d misses)", s.Requests,
			int64(r.LookupRate*r.Duration.Seconds()), s.Hits.Sent, s.Misses.Sent))
		l.add("latency from intended send p50 / p99 / p99.9 / max",
			strings.Join([]string{fmtDuration(s.Latency.P50), fmtDuration(s.Latency.P99), fmtDuration(s.Latency.P999), fmtDuration(s.Latency.Max)}, " / "))
		l.add("sends >1ms late", fmtInt(s.Late))
	}
	l.add("failed lookups (wrong status or no answer)", fmtInt(r.FailedLookups))

	c := newTable("commits at the origin")
	c.add("transactions", fmt.Sprintf("%d of %d scheduled, %d paths (1-%d per transaction)", r.Transactions, r.Scheduled, r.Paths, maxSoakTxPaths))
	c.add("rate asked / achieved", fmt.Sprintf("%s / %s per second over %d connections", fmtRate(r.CommitRate), fmtRate(r.AchievedCommitRate), r.CommitConnections))
	c.add("latency (schedule to ack) p50 / p99 / max",
		fmtDuration(r.CommitLatency.P50)+" / "+fmtDuration(r.CommitLatency.P99)+" / "+fmtDuration(r.CommitLatency.Max))

	e := newTable("checks per edge", "edge", "paths verified", "lost tx", "lost paths", "torn samples", "caught applying", "torn", "interrupted", "unresolved", "bootstraps")
	for _, s := range []SoakEdge{r.Survivor, r.Victim} {
		e.add(s.Name, fmtInt(s.Verified), fmtInt(s.Lost), fmtInt(s.LostPaths), fmtInt(s.Torn.Samples), fmtInt(s.Torn.Caught),
			fmtInt(s.Torn.Torn), fmtInt(s.Torn.Interrupted), fmtInt(s.Torn.Unresolved), fmtInt(int64(s.Bootstraps)))
	}

	k := newTable("victim restarts")
	k.add("restarts", fmtInt(int64(len(r.Restarts))))
	if len(r.Restarts) > 0 {
		var down time.Duration
		for _, x := range r.Restarts {
			down = max(down, x.Downtime)
		}
		k.add("ready after restart p50 / max", fmtDuration(r.RestartReady.P50)+" / "+fmtDuration(r.RestartReady.Max))
		k.add("longest downtime (SIGKILL to ready)", fmtDuration(down))
	}

	m := r.Memory
	mt := newTable(fmt.Sprintf("survivor RSS (%d samples, every %s; windows of %s)", len(m.Samples), fmtDuration(m.Every), fmtDuration(m.Window)))
	mt.add("median in the warm-up window", fmtBytes(m.WarmupMedian))
	mt.add("median in the window after it", fmtBytes(m.BaselineMedian))
	mt.add("median in the last window", fmtBytes(m.LastMedian))
	mt.add("max", fmtBytes(m.Max))
	mt.add("flat (last ≤ "+fmtBytes(m.Limit)+")", fmt.Sprint(m.Flat))
	return writeTables(w, head, l, c, e, k, mt)
}
