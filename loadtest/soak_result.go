package loadtest

import (
	"fmt"
	"io"
	"strings"
	"time"
)

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
