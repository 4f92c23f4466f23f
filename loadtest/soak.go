package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
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

// soakAnswerTimeout bounds the wait for a lookup's answer, past the end of
// the soak.
const soakAnswerTimeout = time.Minute

// ErrSoakFailed is returned, wrapped with the reasons, when a soak ran to
// its end but one of its checks failed; the result holds the details.
var ErrSoakFailed = errors.New("soak failed")

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
		m, err := lookupOne(checkCtx, mcfg, keys, survivorURL, 0)
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
		l, err := lookupOne(checkCtx, lcfg, keys, survivorURL, 0)
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
