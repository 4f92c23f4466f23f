package loadtest

import (
	"bytes"
	"fmt"
	"time"
)

// lagFig is f of the target of kind in every lag run at rate, in
// repetition order; f sees the run and its target.
func (l *benchLater) lagFig(rate int, kind string, f func(LagResult, LagTarget) float64) []float64 {
	var v []float64
	for rep := 1; rep <= l.Reps; rep++ {
		res, ok := l.lag[lagKey{rate, rep}]
		if !ok {
			continue
		}
		if t, ok := lagTargetOf(res, kind); ok {
			v = append(v, f(res, t))
		}
	}
	return v
}

func lagTargetOf(res LagResult, kind string) (LagTarget, bool) {
	for _, t := range res.Targets {
		if t.Kind == kind {
			return t, true
		}
	}
	return LagTarget{}, false
}

func lagP50(_ LagResult, t LagTarget) float64         { return float64(t.Lag.P50) }
func lagP90(_ LagResult, t LagTarget) float64         { return float64(t.Lag.P90) }
func lagP99(_ LagResult, t LagTarget) float64         { return float64(t.Lag.P99) }
func lagMax(_ LagResult, t LagTarget) float64         { return float64(t.Lag.Max) }
func lagProbes(_ LagResult, t LagTarget) float64      { return float64(t.Probes) }
func lagNeverSeen(_ LagResult, t LagTarget) float64   { return float64(t.NeverSeen) }
func lagProbeErrors(_ LagResult, t LagTarget) float64 { return float64(t.ProbeErrors) }
func lagCommitRate(r LagResult, _ LagTarget) float64  { return r.CommitRate }
func lagCommitP99(r LagResult, _ LagTarget) float64   { return float64(r.CommitLatency.P99) }

// lagMedian is the median of f over the runs at rate, for kind.
func (l *benchLater) lagMedian(rate int, kind string, f func(LagResult, LagTarget) float64) float64 {
	return medianOf(l.lagFig(rate, kind, f))
}

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

// lagTargetName is how the report names a lag target.
func lagTargetName(kind string) string {
	if kind == "edge" {
		return "edge"
	}
	return "native subscriber"
}

// writeLag writes section 3: the replication lag of an edge and a native
// subscriber watching the same commits.
func (r *BenchResults) writeLag(b *bytes.Buffer, l *benchLater) {
	first := l.lag[lagKey{1000, 1}]
	probe := fns(float64(first.ProbeInterval))
	b.WriteString("## 3. Replication lag: edge vs native subscriber\n\n")
	fmt.Fprintf(b, "`loadtest lag` commits one path per transaction at the origin on a fixed\n"+
		"schedule for %s, over %d connections (one transaction in flight on each), and\n"+
		"measures, for each target, the time from each commit's acknowledgement to the\n"+
		"first probe that finds it (over HTTP for the edge, over SQL for the\n"+
		"subscriber). Each target is probed at most once per %s while it is\n"+
		"behind, so a lag is overstated by up to about two such intervals and a\n"+
		"probe's round trip. Both targets watch the same commits in the\n"+
		"same run. The edge (`narthex edge --name bench_lag`) was bootstrapped from the\n"+
		"%d-narinfo origin in %.1f s; the subscriber is the last one of\n"+
		"the bootstrap runs (`%s`, default subscription settings, so\n"+
		"`synchronous_commit = off` for its apply worker).\n\n",
		l.LagDuration, first.Connections, probe, l.OriginNarinfos,
		time.Duration(l.LagEdgeReadyNS).Seconds(), l.LagSubscriberDB)
	if len(r.lagLookups) > 0 {
		fmt.Fprintf(b, "Section 1 has the lag of each of its edges at %s commits/s while it answers lookups\n"+
			"([Replication lag while lookups run](#replication-lag-while-lookups-run)).\n\n", fnum(r.lagLookups[0].res.Rate))
	}
	b.WriteString("| commits/s asked | achieved | target | p50 | p90 | p99 | max (worst run) | never seen | probe errors | p50 edge ÷ native | p99 edge ÷ native |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, rate := range l.LagRates {
		for _, kind := range []string{"edge", "subscriber"} {
			r50, r99 := "", ""
			if kind == "edge" {
				r50 = fratio(l.lagMedian(rate, "edge", lagP50), l.lagMedian(rate, "subscriber", lagP50))
				r99 = fratio(l.lagMedian(rate, "edge", lagP99), l.lagMedian(rate, "subscriber", lagP99))
			}
			fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", rate,
				frate(l.lagMedian(rate, kind, lagCommitRate)), lagTargetName(kind),
				fns(l.lagMedian(rate, kind, lagP50)), fns(l.lagMedian(rate, kind, lagP90)), fns(l.lagMedian(rate, kind, lagP99)),
				fns(maxOf(l.lagFig(rate, kind, lagMax))), frate(sum(l.lagFig(rate, kind, lagNeverSeen))),
				frate(sum(l.lagFig(rate, kind, lagProbeErrors))), r50, r99)
		}
	}
	b.WriteString("\nPer run (p50 / p99 / max):\n\n")
	b.WriteString("| commits/s | run | achieved | commit p99 (schedule to ack) | edge | native subscriber |\n|---|---|---|---|---|---|\n")
	triple := func(t LagTarget, ok bool) string {
		if !ok {
			return "– / – / –"
		}
		return fns(float64(t.Lag.P50)) + " / " + fns(float64(t.Lag.P99)) + " / " + fns(float64(t.Lag.Max))
	}
	for _, rate := range l.LagRates {
		for rep := 1; rep <= l.Reps; rep++ {
			res := l.lag[lagKey{rate, rep}]
			e, eok := lagTargetOf(res, "edge")
			s, sok := lagTargetOf(res, "subscriber")
			fmt.Fprintf(b, "| %d | %d | %s | %s | %s | %s |\n", rate, rep, frate(res.CommitRate),
				fns(float64(res.CommitLatency.P99)), triple(e, eok), triple(s, sok))
		}
	}
	eProbes, sProbes := frate(l.lagMedian(1000, "edge", lagProbes)), frate(l.lagMedian(1000, "subscriber", lagProbes))
	fmt.Fprintf(b, "\nBoth pollers probe at most once per %s while their target is behind, the edge's over HTTP on one\n"+
		"keep-alive connection, the subscriber's over SQL: at 1,000 commits/s the edge got a median of\n"+
		"%s probe requests per run and the subscriber %s queries, load each serves on\n"+
		"the same cores while it applies.\n\n", probe, eProbes, sProbes)
	if rate := l.lagMedian(1000, "edge", lagCommitRate); rate < 950 {
		fmt.Fprintf(b, "**The origin fell behind the 1,000/s schedule** (median %s commits/s achieved): `loadtest lag`\n"+
			"commits over %d connections, one transaction per path, on the same %d cores as PostgreSQL,\n"+
			"both targets and its own pollers, which probe each target up to once per %s while it is behind\n"+
			"(median probes per run: edge %s, native %s). The commits that\n"+
			"missed their slot were sent back to back, so the 1,000/s rows measure a burst at the\n"+
			"achieved rate, with the backlog in the commit latency, not a steady 1,000/s.\n\n",
			frate(rate), first.Connections, r.Facts.NProc, probe, eProbes, sProbes)
	}
	b.WriteString("Each target alone (one run each, 1,000 commits/s asked): what the other target and its\npoller cost.\n\n")
	b.WriteString("| target alone | achieved commits/s | commit p99 (schedule to ack) | p50 | p90 | p99 | max | probes |\n|---|---|---|---|---|---|---|---|\n")
	for _, kind := range []string{"edge", "subscriber"} {
		res := l.lagAlone[kind]
		t, _ := lagTargetOf(res, kind)
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %d |\n", lagTargetName(kind), frate(res.CommitRate),
			fns(float64(res.CommitLatency.P99)), fns(float64(t.Lag.P50)), fns(float64(t.Lag.P90)),
			fns(float64(t.Lag.P99)), fns(float64(t.Lag.Max)), t.Probes)
	}
	b.WriteString("\nCommands (repetition 1, then the single-target runs):\n\n")
	ids := []string{"edge-lag"}
	for _, rate := range l.LagRates {
		ids = append(ids, fmt.Sprintf("lag-%d-1", rate))
	}
	r.writeCommandBlock(b, append(ids, "lag-1000-edge-alone", "lag-1000-subscriber-alone"))
}
