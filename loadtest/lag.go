package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"
)

// MaxLagCommits bounds the commits of a lag run.
const MaxLagCommits = 1_000_000

// DefaultLagGrace is how long lag keeps looking for commits after the last.
const DefaultLagGrace = 10 * time.Second

// probeRetryPause spaces probes after a failed one, so that a target that
// is down is not hammered.
const probeRetryPause = time.Millisecond

// DefaultProbeInterval is the least time between two probes of one target
// by default.
const DefaultProbeInterval = 200 * time.Microsecond

// maxProbeInterval bounds ProbeInterval.
const maxProbeInterval = time.Second

// LagConfig describes a replication lag run: paths committed at the origin
// on a fixed schedule, and the targets watched for them.
type LagConfig struct {
	// DatabaseURL is the origin database, on loopback. Required.
	DatabaseURL string
	// Edges are edge base URLs (http://, loopback) to watch.
	Edges []string
	// SubscriberURL, when set, is a database on loopback that subscribes
	// natively to the narthex publication, watched over SQL.
	SubscriberURL string
	// Rate is commits per second. Default 1000.
	Rate float64
	// Connections commit, each one transaction at a time, so that a slow
	// commit does not hold back the next one. Default
	// DefaultCommitConnections, at most 64.
	Connections int
	// ProbeInterval is the least time between two probes of a target while
	// it is behind, so that the probes do not compete with its work.
	// Default DefaultProbeInterval, at most a second.
	ProbeInterval time.Duration
	// Duration bounds the schedule, up to MaxDuration. Required.
	Duration time.Duration
	// Commits bounds the number of commits; 0 means Rate × Duration. At
	// most MaxLagCommits either way.
	Commits int64
	// Grace is how long after the last commit targets may take to show
	// it; default DefaultLagGrace.
	Grace time.Duration
}

// Validate names the first unusable field.
func (c LagConfig) Validate() error {
	switch {
	case c.DatabaseURL == "":
		return errors.New("lag: DatabaseURL is empty")
	case len(c.Edges) == 0 && c.SubscriberURL == "":
		return errors.New("lag: nothing to watch: give edges or a subscriber")
	case !(c.Rate >= 0) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("lag: Rate %v is not a rate", c.Rate)
	case c.Connections < 0 || c.Connections > maxCommitConnections:
		return fmt.Errorf("lag: Connections %d is outside 1-%d", c.Connections, maxCommitConnections)
	case c.ProbeInterval < 0 || c.ProbeInterval > maxProbeInterval:
		return fmt.Errorf("lag: ProbeInterval %v is outside (0, %v]", c.ProbeInterval, maxProbeInterval)
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("lag: Duration %v is outside (0, %v]", c.Duration, MaxDuration)
	case c.Commits < 0 || c.Grace < 0 || c.Grace > MaxDuration:
		return errors.New("lag: Commits and Grace may not be negative, Grace at most an hour")
	}
	if err := CheckDatabaseURL(c.DatabaseURL); err != nil {
		return fmt.Errorf("lag: %w", err)
	}
	if c.SubscriberURL != "" {
		if err := CheckDatabaseURL(c.SubscriberURL); err != nil {
			return fmt.Errorf("lag: subscriber: %w", err)
		}
	}
	for _, e := range c.Edges {
		if _, err := CheckURL(e); err != nil {
			return fmt.Errorf("lag: %w", err)
		}
	}
	return nil
}

func (c *LagConfig) setDefaults() {
	if c.Rate == 0 {
		c.Rate = 1000
	}
	if c.Connections == 0 {
		c.Connections = DefaultCommitConnections
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	if c.Grace == 0 {
		c.Grace = DefaultLagGrace
	}
	if n := int64(c.Rate * c.Duration.Seconds()); c.Commits == 0 || c.Commits > n {
		c.Commits = max(n, 1)
	}
	c.Commits = min(c.Commits, MaxLagCommits)
}

// LagResult is the outcome of a lag run.
type LagResult struct {
	Rate          float64       `json:"rate"`
	Connections   int           `json:"connections"`
	ProbeInterval time.Duration `json:"probe_interval_ns"`
	Scheduled     int64         `json:"scheduled"`  // commits on the schedule
	Commits       int64         `json:"commits"`    // acknowledged; fewer than scheduled when the origin could not keep up
	Elapsed       time.Duration `json:"elapsed_ns"` // from the first to the last acknowledged commit
	// CommitRate is the achieved rate; CommitLatency runs from each
	// commit's intended time to its acknowledgement.
	CommitRate    float64       `json:"commit_rate"`
	CommitLatency Latency       `json:"commit_latency"`
	Grace         time.Duration `json:"grace_ns"`
	Targets       []LagTarget   `json:"targets"`
}

// LagTarget is what one target showed: for each commit, the time from its
// acknowledgement to the first probe that found it.
type LagTarget struct {
	Target string  `json:"target"`
	Kind   string  `json:"kind"` // "edge" or "subscriber"
	Seen   int64   `json:"seen"`
	Lag    Latency `json:"lag"`
	// NeverSeen commits had not shown up by the end of the grace period.
	NeverSeen   int64  `json:"never_seen"`
	Probes      int64  `json:"probes"`
	ProbeErrors int64  `json:"probe_errors"`
	FirstError  string `json:"first_error,omitempty"`
}

// Lag commits cfg.Commits paths at the origin, one transaction each, on a
// fixed schedule of cfg.Rate per second over cfg.Connections connections,
// and measures when each becomes visible on every target.
//
// A target applies whole transactions in the origin's commit order, so a
// probe that finds path m shows every path whose commit was acknowledged
// before m's was sent (that one committed first); paths whose commits
// overlapped m's in time are probed on their own. Each target's poller
// asks for the latest acknowledged path, and when that is not there yet,
// for the oldest one it has not seen, at most one probe per
// cfg.ProbeInterval. A path's lag is the time from its commit's
// acknowledgement to the answer of the first probe that showed it, which
// overstates the true lag by up to about two probe intervals and a
// probe's round trip.
//
// The paths are new (their hashes come from a domain of their own and the
// run's start time) and stay in the cache.
func Lag(ctx context.Context, cfg LagConfig) (*LagResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	total := int(cfg.Commits)
	// Nothing may outlast the schedule, the grace period and a margin for
	// setting up: not a commit, not a probe.
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration+cfg.Grace+time.Minute)
	defer cancel()

	var probers []prober
	defer func() {
		for _, p := range probers {
			p.close()
		}
	}()
	deadline, _ := ctx.Deadline()
	for _, e := range cfg.Edges {
		u, _ := CheckURL(e)
		probers = append(probers, newEdgeProber(e, u, deadline))
	}
	if cfg.SubscriberURL != "" {
		p, err := newSQLProber(ctx, cfg.SubscriberURL)
		if err != nil {
			return nil, err
		}
		probers = append(probers, p)
	}
	// Every target must answer before the clock starts.
	synth := newSideSynth(domainLag, time.Now().UnixNano())
	for _, p := range probers {
		if _, err := p.visible(ctx, MissHash(synth.Seed, 0)); err != nil {
			return nil, fmt.Errorf("lag: %s: %w", p.name(), err)
		}
	}
	paths := makePaths(synth, total)
	conns, err := connectCommitters(ctx, cfg.DatabaseURL, cfg.Connections)
	if err != nil {
		return nil, fmt.Errorf("lag: connect: %w", err)
	}
	defer closeConns(conns)

	c := newCommitter(total, cfg.Rate, func(k int) []SynthPath { return paths[k : k+1] })
	pollers := make([]*lagPoller, len(probers))
	for i, p := range probers {
		pollers[i] = &lagPoller{p: p, firstSeen: make([]time.Duration, total), wake: c.watch(), interval: cfg.ProbeInterval}
	}
	c.start = time.Now()
	c.end = c.start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for _, p := range pollers {
		wg.Go(func() { p.run(ctx, c, paths, cfg.Grace) })
	}
	commitErr := c.run(ctx, conns)
	wg.Wait()
	if commitErr != nil {
		return nil, fmt.Errorf("lag: commit: %w", commitErr)
	}

	n, commitLatency := c.summary()
	if n == 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("lag: nothing was committed")
	}
	res := &LagResult{
		Rate: cfg.Rate, Connections: cfg.Connections, ProbeInterval: cfg.ProbeInterval,
		Scheduled: int64(total), Commits: n, Grace: cfg.Grace, CommitLatency: commitLatency,
	}
	first, last := slices.Min(c.acks[:n]), slices.Max(c.acks[:n])
	res.Elapsed = last - first
	if res.Elapsed > 0 {
		res.CommitRate = float64(n-1) / res.Elapsed.Seconds()
	}
	for _, p := range pollers {
		res.Targets = append(res.Targets, p.result(c.acks[:n]))
	}
	return res, ctx.Err()
}

// makePaths makes the paths of a run on every core, before the clock starts.
func makePaths(synth *Synth, n int) []SynthPath {
	paths := make([]SynthPath, n)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				paths[i] = synth.Path(i)
			}
		})
	}
	wg.Wait()
	return paths
}

// lagPoller watches one target.
type lagPoller struct {
	p         prober
	interval  time.Duration
	firstSeen []time.Duration // since start; 0: not seen
	seen      int             // paths [0, seen) are seen
	// missedLatest is set when the last probe of the latest path did not
	// find it: the next probe is for the oldest unseen one.
	missedLatest bool
	next         time.Time // the earliest start of the next probe
	wake         <-chan struct{}
	probes       int64
	errors       int64
	firstErr     error
}

// run probes until every path is seen, or the grace period after the last
// commit is over, or ctx ends.
func (l *lagPoller) run(ctx context.Context, c *committer, paths []SynthPath, grace time.Duration) {
	for l.seen < len(paths) && ctx.Err() == nil {
		n := int(c.committed.Load())
		if l.seen == n {
			// Everything acknowledged is seen: wait for the next commit.
			select {
			case <-l.wake:
				continue
			case <-ctx.Done():
				return
			case <-c.done:
				if int(c.committed.Load()) == l.seen {
					return
				}
				continue
			}
		}
		select {
		case <-c.done:
			if time.Duration(c.doneAt.Load())+grace < time.Since(c.start) {
				return
			}
		default:
		}
		k := n - 1
		if l.firstSeen[k] != 0 || (l.missedLatest && l.seen < k) {
			k = l.seen
		}
		l.pace(ctx)
		found := l.probe(ctx, paths[k].Info.Hash)
		l.missedLatest = k == n-1 && !found
		if found {
			l.mark(c, k, n, time.Since(c.start))
		}
	}
}

// pace waits until l.interval has passed since the last probe started.
func (l *lagPoller) pace(ctx context.Context) {
	if wait := time.Until(l.next); wait > 0 && ctx.Err() == nil {
		pause(wait)
	}
	l.next = time.Now().Add(l.interval)
}

// pause sleeps for d. Below a few milliseconds it sleeps in the kernel
// (about 0.1 ms late on an idle machine), because the Go timer wakes no
// sooner than about a millisecond when nothing else runs.
func pause(d time.Duration) {
	if d >= 2*time.Millisecond {
		time.Sleep(d)
		return
	}
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}

// probe asks the target for hash, counting the probe and any error.
func (l *lagPoller) probe(ctx context.Context, hash string) bool {
	l.probes++
	ok, err := l.p.visible(ctx, hash)
	if err != nil {
		l.errors++
		if l.firstErr == nil {
			l.firstErr = err
		}
		time.Sleep(probeRetryPause)
	}
	return ok
}

// mark records that path m, of the n acknowledged, was seen at t, and
// with it every unseen path whose commit was acknowledged before m's was
// sent. The scan stops at the first path sent after m: paths are sent
// about in order, and one left unmarked is only probed again.
func (l *lagPoller) mark(c *committer, m, n int, t time.Duration) {
	if l.firstSeen[m] == 0 {
		l.firstSeen[m] = t
	}
	sent := c.sends[m]
	for k := l.seen; k < n && c.sends[k] <= sent; k++ {
		if l.firstSeen[k] == 0 && c.acks[k] < sent {
			l.firstSeen[k] = t
		}
	}
	for l.seen < len(l.firstSeen) && l.firstSeen[l.seen] != 0 {
		l.seen++
	}
}

func (l *lagPoller) result(acks []time.Duration) LagTarget {
	h := newHistogram()
	r := LagTarget{Target: l.p.name(), Kind: l.p.kind(), Probes: l.probes, ProbeErrors: l.errors}
	for k, ack := range acks {
		if l.firstSeen[k] == 0 {
			r.NeverSeen++
			continue
		}
		r.Seen++
		h.record(l.firstSeen[k] - ack)
	}
	r.Lag = h.summary()
	if l.firstErr != nil {
		r.FirstError = l.firstErr.Error()
	}
	return r
}

// WriteTable writes the result as a table.
func (r *LagResult) WriteTable(w io.Writer) error {
	head := newTable(fmt.Sprintf("lag: %d of %d scheduled commits made, %s/s asked, %s/s achieved over %d connections",
		r.Commits, r.Scheduled, fmtRate(r.Rate), fmtRate(r.CommitRate), r.Connections))
	head.add("commit latency (schedule to ack) p50/p99/max",
		fmtDuration(r.CommitLatency.P50)+" / "+fmtDuration(r.CommitLatency.P99)+" / "+fmtDuration(r.CommitLatency.Max))
	head.add("probe interval (least time between probes of a target)", fmtDuration(r.ProbeInterval))
	head.add("grace after the last commit", fmtDuration(r.Grace))
	t := newTable("lag from commit acknowledged to first seen", append(append([]string{"target", "kind", "seen"}, latencyHeader...), "never seen", "probes", "probe errors")...)
	for _, tg := range r.Targets {
		t.add(append(append([]string{tg.Target, tg.Kind, fmtInt(tg.Seen)}, tg.Lag.cells()...), fmtInt(tg.NeverSeen), fmtInt(tg.Probes), fmtInt(tg.ProbeErrors))...)
	}
	tables := []*table{head, t}
	for _, tg := range r.Targets {
		if tg.FirstError != "" {
			e := newTable("")
			e.add("first probe error of "+tg.Target, tg.FirstError)
			tables = append(tables, e)
		}
	}
	return writeTables(w, tables...)
}
