package loadtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// BenchLagLookups are the settings of section 1's lag runs under lookups,
// as bench.sh wrote them into facts.json.
type BenchLagLookups struct {
	LagDuration    string `json:"lag_duration"`    // each lag run's schedule
	LookupDuration string `json:"lookup_duration"` // each open loop of lookups beside it
	HeadStart      string `json:"head_start"`      // how long the lookups ran before the lag run started
}

// lagLookupRun is one line of lag-lookups.jsonl: a lag run watching one
// edge, and the lookups that ran on it meanwhile.
type lagLookupRun struct {
	ID      string `json:"id"`
	Edge    string `json:"edge"` // as lookups.jsonl names the server
	Rep     int    `json:"rep"`
	Lookups string `json:"lookups"` // their run id in lookups.jsonl; empty when none ran
	File    string `json:"file"`
	res     LagResult
}

// readLagLookups reads lag-lookups.jsonl and the lag results it names from
// dir; none when the run made none.
func readLagLookups(dir string) ([]lagLookupRun, error) {
	rd := reader{dir: dir}
	if !rd.exists("lag-lookups.jsonl") {
		return nil, nil
	}
	var runs []lagLookupRun
	rd.lines("lag-lookups.jsonl", func(line []byte) error {
		var run lagLookupRun
		if err := json.Unmarshal(line, &run); err != nil {
			return err
		}
		rd.json(run.File, &run.res)
		runs = append(runs, run)
		return nil
	})
	if rd.err != nil {
		return nil, fmt.Errorf("bench results: %w", rd.err)
	}
	return runs, nil
}

// lagLookupsFig is f of the edge target of every lag run watching edge, in
// repetition order: those with lookups beside them when loaded, else those
// without.
func (r *BenchResults) lagLookupsFig(edge string, loaded bool, f func(LagResult, LagTarget) float64) []float64 {
	var v []float64
	for _, run := range r.lagLookups {
		if run.Edge != edge || (run.Lookups != "") != loaded {
			continue
		}
		if t, ok := lagTargetOf(run.res, "edge"); ok {
			v = append(v, f(run.res, t))
		} else {
			v = append(v, missing)
		}
	}
	return v
}

// lagLookupsRate is the rate the lookups beside the lag runs were to be
// asked: a quarter of the lowest median closed-loop throughput of the
// mixed lookups on the uniform set (`loadtest lookup`) among the edges,
// halved whole as bench.sh halves what `loadtest report --half-max`
// prints; that median, and its edge.
func (r *BenchResults) lagLookupsRate() (rate, lowest float64, edge string) {
	lowest = missing
	for _, e := range r.Facts.Edges {
		v, ok := r.median(cellQuery{"uniform", "mixed", "c64", "lookup", e.Name}, throughput)
		if ok && (edge == "" || v < lowest) {
			lowest, edge = v, e.Name
		}
	}
	return math.Trunc(math.Trunc(lowest/2) / 2), lowest, edge
}

// lagLookupsKeptUp is the share of the asked rate the lookups must achieve
// for the report to call it kept up with.
const lagLookupsKeptUp = 0.95

// writeLagLookups writes the replication lag of each edge of section 1
// while it answers lookups.
func (r *BenchResults) writeLagLookups(b *bytes.Buffer) {
	if len(r.lagLookups) == 0 {
		return
	}
	f := r.Facts
	var first LagResult
	for _, run := range r.lagLookups {
		if run.Lookups != "" {
			first = run.res
			break
		}
	}
	set := f.LagLookups
	asked, lowestMax, lowest := r.lagLookupsRate()
	b.WriteString("### Replication lag while lookups run\n\n")
	fmt.Fprintf(b, "For each edge in turn, `narthex loadtest lookup` sends it mixed lookups (uniform set, hit\n"+
		"ratio 0.5) on a fixed schedule over 64 connections for %s, and %s after it starts,\n"+
		"`narthex loadtest lag` commits %s paths per second at the origin for %s, one per\n"+
		"transaction over %d connections, and probes that edge over HTTP for each (at most once\n"+
		"per %s while it is behind). A path's lag runs from its commit's acknowledgement to the\n"+
		"first probe that finds it, so it is overstated by up to about two probe intervals and\n"+
		"a probe's round trip. The lookups' rate is one for all the edges, so that each can keep\n"+
		"up beside the lag tool and the commits on the same cores: a quarter of the lowest median\n"+
		"closed-loop throughput of mixed lookups on the uniform set (`narthex loadtest lookup`)\n"+
		"among them (`%s`'s, %s req/s): %s req/s. The other\n"+
		"edges follow the same origin and apply the same commits meanwhile. An edge's CPU per\n"+
		"answer is all its CPU time over its lookups (answering them, answering the lag probes,\n"+
		"applying the commits) divided by the lookups it answered. The edges take turns, in an\n"+
		"order that rotates between repetitions; each row is the median of %d run(s), but the\n"+
		"first: the lag alone on the default edge, once, with no lookups running. Ratios are each\n"+
		"edge's p99 ÷ `%s`'s under lookups.\n\n",
		set.LookupDuration, set.HeadStart, fnum(first.Rate), set.LagDuration, first.Connections,
		fns(float64(first.ProbeInterval)), lowest, frate(lowestMax), frate(asked), f.Reps, defaultEdge)
	b.WriteString("| edge | lag p50 | lag p99 | lag max (worst run) | commits/s achieved | never seen | lookups asked (req/s) | achieved req/s | sends > 1 ms late | lookup p50 | lookup p99 | CPU/answer | wrong answers | lag p99 ÷ edge | lookup p99 ÷ edge |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	lag := func(edge string, loaded bool, g func(LagResult, LagTarget) float64) float64 {
		return medianOf(r.lagLookupsFig(edge, loaded, g))
	}
	look := func(edge string, g func(benchCell) float64) float64 {
		if v, ok := r.median(cellQuery{"uniform", "mixed", "lag", "lookup", edge}, g); ok {
			return v
		}
		return missing
	}
	// Durations as the other tables of section 1 show them.
	dur := func(ns float64) string {
		if math.IsNaN(ns) {
			return "–"
		}
		return mdDur(ns)
	}
	refLag, refLook := lag(defaultEdge, true, lagP99), look(defaultEdge, p99)
	lagCells := func(edge string, loaded bool) string {
		return strings.Join([]string{dur(lag(edge, loaded, lagP50)), dur(lag(edge, loaded, lagP99)),
			dur(maxOf(r.lagLookupsFig(edge, loaded, lagMax))), frate(lag(edge, loaded, lagCommitRate)),
			frate(sum(r.lagLookupsFig(edge, loaded, lagNeverSeen)))}, " | ")
	}
	if len(r.lagLookupsFig(defaultEdge, false, lagP99)) > 0 {
		fmt.Fprintf(b, "| %s, no lookups | %s | – | – | – | – | – | – | – | %s | – |\n", defaultEdge, lagCells(defaultEdge, false),
			fratio(lag(defaultEdge, false, lagP99), refLag))
	}
	var behind []string
	for _, e := range f.Edges {
		if len(r.lagLookupsFig(e.Name, true, lagP99)) == 0 {
			continue
		}
		r99, l99 := "", ""
		if e.Name != defaultEdge {
			r99, l99 = fratio(lag(e.Name, true, lagP99), refLag), fratio(look(e.Name, p99), refLook)
		}
		got, want := look(e.Name, throughput), look(e.Name, rate)
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", e.Name, lagCells(e.Name, true),
			frate(want), frate(got), frate(look(e.Name, late)), dur(look(e.Name, p50)), dur(look(e.Name, p99)),
			dur(look(e.Name, cpuPerReq)), frate(look(e.Name, wrong)), r99, l99)
		if got < lagLookupsKeptUp*want {
			behind = append(behind, fmt.Sprintf("`%s` (%s)", e.Name, frate(got)))
		}
	}
	if len(behind) > 0 {
		fmt.Fprintf(b, "\n**The lookups fell behind their schedule**: their median achieved rate was below %.0f%% of the\n"+
			"%s req/s asked on %s. The rate comes from closed loops that ran without the lag run,\n"+
			"its commits and the other edges applying them on the same %d cores. Lookup latencies count from\n"+
			"each request's intended send, so they hold the backlog, and the lag runs shared the cores with it.\n",
			100*lagLookupsKeptUp, frate(asked), strings.Join(behind, ", "), f.NProc)
	}
	b.WriteString("\nCommands (repetition 1, the lag alone first; each lookup command runs in the background\nwhile the lag command after it runs):\n\n")
	var ids []string
	for _, run := range r.lagLookups {
		if run.Rep == 1 {
			if run.Lookups != "" {
				ids = append(ids, run.Lookups)
			}
			ids = append(ids, run.ID)
		}
	}
	r.writeCommandBlock(b, ids)
}
