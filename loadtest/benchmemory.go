package loadtest

import (
	"bytes"
	"fmt"
	"strings"
)

// mem is the reading of edge at stage: its RSS and peak, missing when the
// run made none.
func (l *benchLater) mem(edge, stage string) (rss, hwm float64) {
	for _, m := range l.memory {
		if m.Edge == edge && m.Stage == stage {
			return m.RSS, m.HWM
		}
	}
	return missing, missing
}

// memTrace is the RSS of edge at every stage that starts with one of the
// prefixes, in the order of the run.
func (l *benchLater) memTrace(edge string, prefixes ...string) []float64 {
	var v []float64
	for _, m := range l.memory {
		for _, p := range prefixes {
			if m.Edge == edge && strings.HasPrefix(m.Stage, p) {
				v = append(v, m.RSS)
				break
			}
		}
	}
	return v
}

// bigMem is the lag edge's RSS and peak after its last lookup run.
func (l *benchLater) bigMem() (rss, hwm float64) { return l.mem("lag", "after lookup-big-mixed") }

// heapStat is a figure of the lag edge's Go heap profile, or missing.
func (l *benchLater) heapStat(name string) float64 {
	if v, ok := l.heap[name]; ok {
		return v
	}
	return missing
}

// writeMemory writes section 4: the edges' memory at the stages of the run.
func (r *BenchResults) writeMemory(b *bytes.Buffer, l *benchLater) {
	b.WriteString("## 4. Edge memory\n\nVmRSS (and VmHWM, the peak) of the three edges of the run, read from\n`/proc/<pid>/status`:\n\n")
	b.WriteString("| edge | narinfos | when | RSS | peak |\n|---|---|---|---|---|\n")
	row := func(edge string, n int64, when string, rss, hwm float64) {
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s |\n", edge, n, when, fbytes(rss), fbytes(hwm))
	}
	row(fmt.Sprintf("bootstrapped by `loadtest bootstrap` (median of %d)", l.Reps), l.OriginNarinfos, "once ready",
		medianOf(l.bootEdgeFig(bootRSS)), medianOf(l.bootEdgeFig(bootPeak)))
	rss, hwm := l.mem("lag", "ready")
	row("lag edge", l.OriginNarinfos, "once ready", rss, hwm)
	rss, hwm = l.mem("lag", "after the lag runs")
	row("lag edge", l.LagEdgeNarinfos, "after the lag runs", rss, hwm)
	bigRSS, bigHWM := l.bigMem()
	row("lag edge", l.LagEdgeNarinfos, "after "+l.BigDuration+" each of hits, misses, mixed (64 connections)", bigRSS, bigHWM)
	rss, hwm = l.mem("lookup", "end")
	row("lookup edge", int64(l.LookupKeys), "after the lookup runs of section 1 (closed loop, sequential, open loop) and the profiles", rss, hwm)

	var runs []string
	for _, sc := range benchScenarios {
		res := l.big[sc]
		runs = append(runs, fmt.Sprintf("%.0f req/s, %d wrong", float64(int64(res.Throughput)), res.Errors))
	}
	sys := l.heapStat("Sys")
	fmt.Fprintf(b, "\nThe lag edge's RSS after its hits, misses and mixed runs: %s\n(%s; keys: %d paths of seed %d).\n",
		fjoin(l.memTrace("lag", "after lookup-big-"), fbytes), strings.Join(runs, "; "), l.BigKeys, l.BigSeed)
	fmt.Fprintf(b, "Of its final RSS, the Go runtime had %s from the OS (`Sys`; heap in use\n%s, live objects %s), ",
		fbytes(sys), fbytes(l.heapStat("HeapInuse")), fbytes(l.heapStat("HeapAlloc")))
	if outside := bigRSS - sys; outside < 0 {
		// Sys counts what the runtime reserved, resident or not.
		fmt.Fprintf(b, "more than the RSS: part of what the runtime\nreserved was not resident, so what the rest of the process holds\n"+
			"(cgo allocations such as Pebble's block cache, and mapped files) cannot be told from these figures.\n\n")
	} else {
		fmt.Fprintf(b, "so about\n%s was memory outside the Go runtime (cgo allocations such as Pebble's block cache, and mapped files).\n\n",
			fbytes(outside))
	}
	fmt.Fprintf(b, "The lookup edge's RSS before the first lookup run and after each of the\n"+
		"64-connection runs of section 1 (every repetition's sets, scenarios and load\n"+
		"generators, in order): %s.\n\n", fjoin(l.memTrace("lookup", "before", "after "), fbytes))
	b.WriteString("Commands:\n\n")
	ids := []string{"edge-lag"}
	for _, sc := range benchScenarios {
		ids = append(ids, "lookup-big-"+sc)
	}
	r.writeCommandBlock(b, ids)
}
