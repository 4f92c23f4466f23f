package loadtest

import (
	"bytes"
	"fmt"
	"strings"
)

// defaultEdge names the edge of the lookups started with the defaults: the
// one every other edge is compared with.
const defaultEdge = "edge"

// otherEdges are the edges of the lookups but the default one.
func (f BenchFacts) otherEdges() []BenchEdge {
	var v []BenchEdge
	for _, e := range f.Edges {
		if e.Name != defaultEdge {
			v = append(v, e)
		}
	}
	return v
}

// engineOf is the engine e was started on: its --http-engine, else the
// flag's default.
func (f BenchFacts) engineOf(e BenchEdge) string {
	if e.Engine != "" {
		return e.Engine
	}
	return f.EdgeEngine
}

// gomaxprocsEnv is how the environment of an edge sets GOMAXPROCS.
const gomaxprocsEnv = "GOMAXPROCS="

// howStarted says how e was started, for the list of the edges.
func (f BenchFacts) howStarted(e BenchEdge) string {
	var s string
	switch {
	case e.Engine != "":
		s = fmt.Sprintf("`--http-engine %s`", e.Engine)
	case e.Name == defaultEdge:
		s = fmt.Sprintf("the default: no `--http-engine`, so `%s` (the flag's default, as `narthex edge --help` states it)", f.EdgeEngine)
	default:
		s = fmt.Sprintf("no `--http-engine` either, so `%s`", f.EdgeEngine)
	}
	switch n, ok := strings.CutPrefix(e.Env, gomaxprocsEnv); {
	case ok && n == "1":
		s += "; started with `GOMAXPROCS=1`: the Go runtime runs Go code on one thread at a time (a thread blocked in a system call aside)"
	case e.Env != "":
		s += fmt.Sprintf("; started with `%s` in its environment", e.Env)
	}
	return s
}

// writeEdges lists the edges of the lookups and how each was started.
func (r *BenchResults) writeEdges(b *bytes.Buffer) {
	f := r.Facts
	for _, e := range f.Edges {
		fmt.Fprintf(b, "- `%s`: %s.\n", e.Name, f.howStarted(e))
	}
	b.WriteString("\n")
	if f.EdgeEngineFallback != "" {
		fmt.Fprintf(b, "**The default edge did not answer with `%s`**: it logged at start\n`%s`.\n\n", f.EdgeEngine, f.EdgeEngineFallback)
	}
	for _, e := range f.otherEdges() {
		if e.Env == "" && f.engineOf(e) == f.EdgeEngine {
			fmt.Fprintf(b, "`%s` was started as `%s` is in this run (`%s` is the default engine): two processes of one\n"+
				"configuration, whose ratio shows how far apart two equal edges measure here.\n\n", e.Name, defaultEdge, f.EdgeEngine)
		}
	}
}

// writeEngines writes the edges of the lookups side by side, from the
// closed loops that measured them all: what the choice of the defaults
// (engine, GOMAXPROCS) rests on.
func (r *BenchResults) writeEngines(b *bytes.Buffer, sets []BenchSet) {
	others := r.Facts.otherEdges()
	if len(others) == 0 || !r.has(cellQuery{"hot", "hits", "c64", "lookup", others[0].Name}) {
		return
	}
	b.WriteString("### The edges: HTTP engines and GOMAXPROCS\n\n")
	fmt.Fprintf(b, "%d edges, each a process of its own with its own replica of the same origin, measured in the\n"+
		"same commands as the tables above (64 connections, closed loop, the servers taking turns). Those\n"+
		"started without GOMAXPROCS in their environment run Go code on as many threads at once as there\n"+
		"are cores (the Go runtime's default; %d here).\n\n", len(r.Facts.Edges), r.Facts.NProc)
	r.writeEdges(b)
	fmt.Fprintf(b, "Ratios are each edge ÷ `%s`.\n\n", defaultEdge)
	names := []string{defaultEdge}
	var ratios []string
	for _, e := range others {
		names = append(names, e.Name)
		ratios = append(ratios, e.Name+" ÷ "+defaultEdge)
	}
	header := []string{"set", "scenario", "generator", "CPU/answer " + names[0]}
	header = append(header, names[1:]...)
	for _, h := range ratios {
		header = append(header, h+" CPU")
	}
	header = append(header, "req/s "+names[0])
	header = append(header, names[1:]...)
	header = append(header, ratios...)
	b.WriteString("| " + strings.Join(header, " | ") + " |\n")
	b.WriteString(strings.Repeat("|---", len(header)) + "|\n")
	for _, s := range sets {
		for _, sc := range benchScenarios {
			for _, g := range []string{"lookup", "wrk"} {
				q := func(server string) cellQuery { return cellQuery{s.Name, sc, "c64", g, server} }
				if !r.has(q(defaultEdge)) || !r.has(q(others[0].Name)) {
					continue
				}
				row := []string{s.Name, sc, g}
				for _, f := range []struct {
					fig    func(benchCell) float64
					format func(float64) string
				}{{cpuPerReq, mdDur}, {throughput, mdRate}} {
					d, dok := r.median(q(defaultEdge), f.fig)
					var cells, rs []string
					for _, name := range names {
						v, ok := r.median(q(name), f.fig)
						if !ok {
							cells = append(cells, "–")
						} else {
							cells = append(cells, f.format(v))
						}
						if name == defaultEdge {
							continue
						}
						if !ok || !dok {
							rs = append(rs, "–")
						} else {
							rs = append(rs, mdRatio(v, d))
						}
					}
					row = append(append(row, cells...), rs...)
				}
				b.WriteString("| " + strings.Join(row, " | ") + " |\n")
			}
		}
	}
	b.WriteString("\n")
}
