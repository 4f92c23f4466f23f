package loadtest

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// writeLookups writes section 1: the edge, nginx and the ceilings under
// the same lookups.
func (r *BenchResults) writeLookups(b *bytes.Buffer) {
	f := r.Facts
	b.WriteString("## 1. Lookups: edge vs nginx vs the fasthttp ceilings\n\n")
	fmt.Fprintf(b, "A cache of paths (seed 1) written into the origin database and, as `<hash>.narinfo`\n"+
		"files, into a folder nginx serves (`loadtest populate --static-dir`). Four servers, each a\n"+
		"process of its own: a `narthex edge` with the replica bootstrapped from the origin; nginx\n"+
		"with [loadtest/bench/nginx.conf](loadtest/bench/nginx.conf) at its best for this work (a\n"+
		"worker per core, `reuseport`, no access log, every lookup answered from `open_file_cache`:\n"+
		"hits from cached descriptors, misses from cached failed opens, `open_file_cache_errors on`;\n"+
		"this run: a limit of %d open files, a cache of %d entries per worker); and two ceilings,\n"+
		"`narthex loadtest ceiling`, bare fasthttp servers configured as the edge's that answer\n"+
		"every request as the edge answers a hit (200, an 800-byte narinfo, its headers) or, with\n"+
		"`--miss`, a miss (404, its headers and body). Hits are compared with the hit ceiling,\n"+
		"misses with the miss ceiling.", f.NginxNofile, f.NginxCacheMax)
	if others := f.otherEdges(); len(others) > 0 {
		names := make([]string, len(others))
		for i, e := range others {
			names[i] = "`" + e.Name + "`"
		}
		fmt.Fprintf(b, " The closed loops also measure %d more edges of the same origin, started\n"+
			"otherwise (%s): their figures are in [the edges' table](#the-edges-http-engines-and-gomaxprocs).",
			len(others), strings.Join(names, ", "))
	}
	b.WriteString("\n\n")
	b.WriteString("Two sets of keys, each the first paths of the cache and as many miss keys that nobody\ncreates, drawn uniformly:\n\n")
	for _, s := range f.Sets {
		fmt.Fprintf(b, "- **%s**: %d paths (and %d miss keys)%s\n", s.Name, s.Keys, s.Keys, setNote(s, f))
	}
	fmt.Fprintf(b, "\nTwo load generators send the same keys: %s (Go, each answer checked) and\n"+
		"%s (C; a Lua script picks requests from a list of paths drawn as the Go\n"+
		"generator draws its keys; answers judged by the count of non-2xx). Each run is %s per\n"+
		"server; the servers take turns within a command, and each repetition starts with another.\n\n",
		benchGenerator["lookup"], benchGenerator["wrk"], f.Duration)
	for _, s := range f.Sets {
		r.writeClosedLoop(b, s)
	}
	r.writeEngines(b, f.Sets)
	r.writeSequential(b)
	r.writeOpenLoop(b)
	r.writeLagLookups(b)
}

func setNote(s BenchSet, f BenchFacts) string {
	if 2*s.Keys <= f.NginxCacheMax {
		return ": every key fits every cache"
	}
	return fmt.Sprintf(": more keys than nginx's cache of %d holds per worker here", f.NginxCacheMax)
}

// writeClosedLoop writes the CPU and throughput table of one set.
func (r *BenchResults) writeClosedLoop(b *bytes.Buffer, s BenchSet) {
	fmt.Fprintf(b, "### %s set (%d keys): server CPU per answer and throughput, 64 connections, closed loop\n\n", strings.ToUpper(s.Name[:1])+s.Name[1:], s.Keys)
	b.WriteString("| scenario | generator | CPU/answer edge | nginx | ceiling | edge ÷ nginx CPU | edge ÷ ceiling CPU | req/s edge | nginx | ceiling | edge ÷ nginx | edge ÷ ceiling | p50 / p99 edge | nginx | ceiling | wrong answers edge / nginx |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	var cmds []string
	for _, sc := range benchScenarios {
		for _, g := range []string{"lookup", "wrk"} {
			q := func(server string) cellQuery { return cellQuery{s.Name, sc, "c64", g, server} }
			if !r.has(q("edge")) {
				continue
			}
			ceil := ceilingOf[sc]
			med := func(server string, f func(benchCell) float64) (float64, bool) {
				if server == "" {
					return 0, false
				}
				return r.median(q(server), f)
			}
			cell := func(server string, f func(benchCell) float64, format func(float64) string) string {
				if v, ok := med(server, f); ok {
					return format(v)
				}
				return "–"
			}
			ratio := func(peer string, f func(benchCell) float64) string {
				e, ok1 := med("edge", f)
				p, ok2 := med(peer, f)
				if !ok1 || !ok2 {
					return "–"
				}
				return mdRatio(e, p)
			}
			lat := func(server string) string {
				a, ok := med(server, p50)
				c, _ := med(server, p99)
				if !ok {
					return "–"
				}
				return mdDur(a) + " / " + mdDur(c)
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n",
				sc, g, cell("edge", cpuPerReq, mdDur), cell("nginx", cpuPerReq, mdDur), cell(ceil, cpuPerReq, mdDur),
				ratio("nginx", cpuPerReq), ratio(ceil, cpuPerReq),
				cell("edge", throughput, mdRate), cell("nginx", throughput, mdRate), cell(ceil, throughput, mdRate),
				ratio("nginx", throughput), ratio(ceil, throughput),
				lat("edge"), lat("nginx"), lat(ceil), cell("edge", wrong, mdRate), cell("nginx", wrong, mdRate))
			if id := r.firstRun(q("edge")); id != "" {
				cmds = append(cmds, r.commands[id])
			}
		}
	}
	b.WriteString("\nCommands (repetition 1; the others rotate the order of `--url` and `--server-pid`):\n\n```sh\n")
	for _, c := range cmds {
		b.WriteString(c + "\n")
	}
	b.WriteString("```\n\n")
}

// writeSequential writes the one-connection latencies.
func (r *BenchResults) writeSequential(b *bytes.Buffer) {
	if !r.has(cellQuery{"uniform", "hits", "seq", "lookup", "edge"}) {
		return
	}
	b.WriteString("### Latency, 1 connection, sequential (uniform set, `narthex loadtest lookup`)\n\n")
	b.WriteString("| scenario | edge p50 / p99 / p99.9 | nginx p50 / p99 / p99.9 | ceiling p50 / p99 / p99.9 | edge p50 ÷ nginx p50 | CPU/answer edge | nginx | ceiling |\n|---|---|---|---|---|---|---|---|\n")
	var cmds []string
	for _, sc := range benchScenarios {
		q := func(server string) cellQuery { return cellQuery{"uniform", sc, "seq", "lookup", server} }
		lat := func(server string) string {
			a, ok := r.median(q(server), p50)
			c, _ := r.median(q(server), p99)
			d, _ := r.median(q(server), p999)
			if !ok {
				return "–"
			}
			return mdDur(a) + " / " + mdDur(c) + " / " + mdDur(d)
		}
		cpu := func(server string) string {
			if v, ok := r.median(q(server), cpuPerReq); ok {
				return mdDur(v)
			}
			return "–"
		}
		e, _ := r.median(q("edge"), p50)
		n, _ := r.median(q("nginx"), p50)
		ceil := ceilingOf[sc]
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", sc, lat("edge"), lat("nginx"), lat(ceil), mdRatio(e, n), cpu("edge"), cpu("nginx"), cpu(ceil))
		cmds = append(cmds, r.commands[r.firstRun(q("edge"))])
	}
	b.WriteString("\nCommands (repetition 1):\n\n```sh\n" + strings.Join(cmds, "\n") + "\n```\n\n")
}

// writeOpenLoop writes the latencies at half of each server's maximum.
func (r *BenchResults) writeOpenLoop(b *bytes.Buffer) {
	if !r.has(cellQuery{"uniform", "hits", "open", "lookup", "edge"}) {
		return
	}
	b.WriteString("### Latency at half of the maximum throughput (uniform set, open loop)\n\n")
	b.WriteString("Each server gets half of its own median closed-loop throughput above (`narthex loadtest\nlookup`), on a fixed schedule over 64 connections; latency counts from each request's\nintended send time, so a server that falls behind shows it.\n\n")
	wakeups := r.has(cellQuery{"uniform", "hits", "open", "lookup", "edge"}) && r.hasWakeups()
	if wakeups {
		b.WriteString("Beside each run, `cyclictest` (rt-tests) measures the machine itself: a thread of an\n" +
			"ordinary process on each core sleeps 1 ms at a time, and the wakeup columns say how late\n" +
			"it ran after its timer fired. A request can wait for three such wakeups (the generator's\n" +
			"send, the server's receive, the generator's read), so the machine's wakeup tail is a\n" +
			"floor under every server's latency tail in the same run.\n\n")
	}
	b.WriteString("| scenario | server | rate (req/s) | achieved req/s | CPU/answer | p50 | p99 | p99.9 | max | sends > 1 ms late | wrong answers |")
	sep := "|---|---|---|---|---|---|---|---|---|---|---|"
	if wakeups {
		b.WriteString(" wakeup p50 | wakeup p99 | wakeup p99.9 | wakeup max |")
		sep += "---|---|---|---|"
	}
	b.WriteString("\n" + sep + "\n")
	var cmds []string
	for _, sc := range []string{"hits", "misses"} {
		for _, server := range []string{"edge", "nginx", ceilingOf[sc]} {
			q := cellQuery{"uniform", sc, "open", "lookup", server}
			if !r.has(q) {
				continue
			}
			m := func(f func(benchCell) float64) float64 { v, _ := r.median(q, f); return v }
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", sc, server, mdRate(m(rate)), mdRate(m(throughput)),
				mdDur(m(cpuPerReq)), mdDur(m(p50)), mdDur(m(p99)), mdDur(m(p999)), mdDur(m(latMax)), mdRate(m(late)), mdRate(m(wrong)))
			if wakeups {
				for _, f := range []func(Latency) time.Duration{wakeupP50, wakeupP99, wakeupP999, wakeupMax} {
					b.WriteString(" " + r.mdMedian(q, wakeupOf(f), mdDur) + " |")
				}
			}
			b.WriteString("\n")
			cmds = append(cmds, r.commands[r.firstRun(q)])
		}
	}
	b.WriteString("\nCommands (repetition 1):\n\n```sh\n" + strings.Join(cmds, "\n") + "\n```\n\n")
}

// writeCommands writes the set-up commands and every command in order.
func (r *BenchResults) writeCommands(b *bytes.Buffer) {
	b.WriteString("## Setup\n\nWhat the script ran to set up the servers (ports are this run's, picked free at start;\n`$T` is the run's temporary folder; the edges run as processes of their own):\n\n```sh\n")
	for _, id := range r.order {
		if strings.HasPrefix(id, "setup-") {
			b.WriteString(r.commands[id] + "\n")
		}
	}
	b.WriteString("```\n\n<details><summary>Every command of the run, in order</summary>\n\n```sh\n")
	for _, id := range r.order {
		b.WriteString(r.commands[id] + "\n")
	}
	b.WriteString("```\n\n</details>\n")
}
