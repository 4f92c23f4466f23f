package loadtest

import (
	"bytes"
	"fmt"
	"strings"
)

// writeTargets judges the lookup targets, then the other sections': from
// this run's figures, or carried over with the sections.
func (r *BenchResults) writeTargets(b *bytes.Buffer, previous []byte, carried bool, oldDate string) {
	b.WriteString("## Targets\n\nThe project's targets, and whether this run met them (both load generators must\nmeet a target for a yes).\n\n")
	b.WriteString("| target | this run | met |\n|---|---|---|\n")
	for _, set := range r.Facts.Sets {
		for _, sc := range []string{"hits", "misses"} {
			r.targetRow(b, set.Name, sc, "server CPU per answer ≤ 0.75× nginx's", "nginx", cpuPerReq, func(e, p float64) bool { return e <= targetCPUShare*p }, mdDur)
			r.targetRow(b, set.Name, sc, "throughput ≥ 1.0× nginx", "nginx", throughput, func(e, p float64) bool { return e >= targetNginxShare*p }, mdRate)
			r.targetRow(b, set.Name, sc, "throughput ≥ 0.95× the ceiling", ceilingOf[sc], throughput, func(e, p float64) bool { return e >= targetCeilingShare*p }, mdRate)
		}
	}
	for _, sc := range []string{"hits", "misses"} {
		q := cellQuery{set: "uniform", scenario: sc, mode: "open", generator: "lookup", server: "edge"}
		v, ok := r.median(q, p99)
		if !ok {
			continue
		}
		at, _ := r.median(q, rate)
		machine := ""
		if w99, ok := r.median(q, wakeupOf(wakeupP99)); ok {
			w999, _ := r.median(q, wakeupOf(wakeupP999))
			machine = fmt.Sprintf("; the machine's timer wakeups meanwhile: p99 %s, p99.9 %s", mdDur(w99), mdDur(w999))
		}
		fmt.Fprintf(b, "| p99 ≤ 1 ms at half of the maximum throughput (uniform %s, open loop) | edge p99 %s at %s req/s%s | %s |\n",
			sc, mdDur(v), mdRate(at), machine, yesNo(v <= float64(targetOpenP99)))
	}
	switch {
	case r.later != nil:
		r.writeLaterTargets(b, r.later)
		if r.stores != nil {
			b.WriteString(strings.Join(r.stores.storesTargetRows(""), "\n") + "\n")
		}
		if r.dashboard != nil {
			b.WriteString(strings.Join(dashboardTargetRows(r.dashboard, ""), "\n") + "\n")
		}
		if r.gc != nil {
			b.WriteString(strings.Join(gcTargetRows(r.gc, ""), "\n") + "\n")
		}
	case carried:
		for _, row := range carriedTargets(previous) {
			if !strings.Contains(row, "(run of ") {
				row = fmt.Sprintf("%s (run of %s) |", strings.TrimSuffix(row, " |"), oldDate)
			}
			b.WriteString(row + "\n")
		}
	}
	b.WriteString("\nRatios are edge ÷ peer. Server CPU per answer is the user and system time of the server\n" +
		"process (nginx: master and workers) over the run, from `/proc/<pid>/stat`, divided by\n" +
		"the answers: the cost of an answer to the server, which the load generator's own cost\n" +
		"does not enter.\n\n")
}

func (r *BenchResults) targetRow(b *bytes.Buffer, set, sc, what, peer string, f func(benchCell) float64, met func(e, p float64) bool, fmtV func(float64) string) {
	var parts []string
	all, any := true, false
	for _, g := range []string{"lookup", "wrk"} {
		e, ok1 := r.median(cellQuery{set, sc, "c64", g, "edge"}, f)
		p, ok2 := r.median(cellQuery{set, sc, "c64", g, peer}, f)
		if !ok1 || !ok2 {
			continue
		}
		any = true
		all = all && met(e, p)
		parts = append(parts, fmt.Sprintf("%s: edge %s, %s %s: %s", g, fmtV(e), peer, fmtV(p), mdRatio(e, p)))
	}
	if any {
		fmt.Fprintf(b, "| %s (%s set, %s) | %s | %s |\n", what, set, sc, strings.Join(parts, "; "), yesNo(all))
	}
}

// carriedTargets are the rows of the previous Targets table that are not
// about lookups.
func carriedTargets(previous []byte) []string {
	var rows []string
	in := false
	for _, line := range strings.Split(string(previous), "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == "## Targets"
		case in && strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| target") && !isLookupTarget(line):
			rows = append(rows, line)
		}
	}
	return rows
}

func isLookupTarget(row string) bool {
	for _, s := range []string{"throughput", "sequential p50", "half of the maximum", "CPU per answer"} {
		if strings.Contains(row, s) {
			return true
		}
	}
	return false
}

// The targets of sections 2 to 7.
const (
	targetLagP50      = 5e6  // ns, replication visibility p50 at 1,000 commits/s
	targetLagP99      = 50e6 // ns, and p99
	targetBootstrap   = 30e9 // ns, bootstrap of 1,000,000 narinfos
	targetRSS         = 256 << 20
	targetIngestShare = 1.5 // nix copy to the origin within this many times file://
)

// writeLaterTargets judges the targets of sections 2 to 7 on this run's
// figures. Those a quick run cannot judge (sizes and durations shortened)
// show n/a.
func (r *BenchResults) writeLaterTargets(b *bytes.Buffer, l *benchLater) {
	full := func(met bool, figures ...float64) string {
		if l.Quick == 1 {
			return "n/a (quick run)"
		}
		return verdict(met, figures...)
	}
	e50, e99 := l.lagMedian(1000, "edge", lagP50), l.lagMedian(1000, "edge", lagP99)
	s50, s99 := l.lagMedian(1000, "subscriber", lagP50), l.lagMedian(1000, "subscriber", lagP99)
	be := medianOf(l.bootEdgeFig(bootReady))
	bn := medianOf(l.bootNativeFig(func(n nativeBoot) float64 { return n.ReadyAfter }))
	bRSS, bPeak := medianOf(l.bootEdgeFig(bootRSS)), medianOf(l.bootEdgeFig(bootPeak))
	bigRSS, bigHWM := l.bigMem()
	row := func(target, run, met string) { fmt.Fprintf(b, "| %s | %s | %s |\n", target, run, met) }
	row("replication visibility p50 ≤ 5 ms at 1,000 commits/s",
		fmt.Sprintf("edge p50 %s (origin achieved %s commits/s)", fns(e50), frate(l.lagMedian(1000, "edge", lagCommitRate))),
		verdict(e50 <= targetLagP50, e50))
	row("replication visibility p99 ≤ 50 ms at 1,000 commits/s", "edge p99 "+fns(e99), verdict(e99 <= targetLagP99, e99))
	row("replication no worse than the native subscriber (1,000 commits/s)",
		fmt.Sprintf("p50 edge %s vs native %s; p99 edge %s vs native %s", fns(e50), fns(s50), fns(e99), fns(s99)),
		verdict(e50 <= s50 && e99 <= s99, e50, s50, e99, s99))
	row("bootstrap of 1,000,000 narinfos ≤ 30 s", fmt.Sprintf("edge %s for %d narinfos", fns(be), l.OriginNarinfos),
		full(be <= targetBootstrap, be))
	row("bootstrap no slower than the native copy", fmt.Sprintf("edge %s, native %s: %s", fns(be), fns(bn), fratio(be, bn)),
		verdict(be <= bn, be, bn))
	row("edge RSS ≤ 256 MB with 1,000,000 narinfos",
		fmt.Sprintf("bootstrapped edge: %s once ready, peak %s; edge with %d narinfos after lookups (see [4](#4-edge-memory)): %s, peak %s",
			fbytes(bRSS), fbytes(bPeak), l.LagEdgeNarinfos, fbytes(bigRSS), fbytes(bigHWM)),
		full(max(bRSS, bPeak, bigRSS, bigHWM) <= targetRSS, bRSS, bPeak, bigRSS, bigHWM))
	if l.hasIngest {
		o, f := l.ingestMedian("payload", "origin"), l.ingestMedian("payload", "file")
		row(fmt.Sprintf("`nix copy --to` the origin within 1.5× of `file://` (%d paths of %d KiB)", l.IngestPaths, l.IngestSize>>10),
			fmt.Sprintf("origin %s, file:// %s: %s", fns(o), fns(f), fratio(o, f)), verdict(o <= targetIngestShare*f, o, f))
		to, tf, ts := l.ingestMedian("tiny", "origin"), l.ingestMedian("tiny", "file"), l.ingestMedian("tiny", "sink")
		row(fmt.Sprintf("`nix copy --to` the origin within 1.5× of `file://` (%d tiny paths)", l.IngestPaths),
			fmt.Sprintf("origin %s, file:// %s: %s; a sink that costs nothing: %s", fns(to), fns(tf), fratio(to, tf), fratio(ts, tf)),
			verdict(to <= targetIngestShare*tf, to, tf))
	}
	if l.hasSoak {
		row("soak: zero failed lookups, zero lost/torn transactions, memory flat (10 minutes, see [6](#6-soak))",
			l.soakSummary(), full(l.soak.Passed))
	}
}
