package loadtest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// The lookup targets of the project, judged by the report.
const (
	targetCPUShare     = 0.75 // edge CPU per answer at most this share of nginx's
	targetNginxShare   = 1.0  // edge throughput at least this share of nginx's
	targetCeilingShare = 0.95 // and of the ceiling's
	targetOpenP99      = time.Millisecond
)

var (
	benchScenarios = []string{"hits", "misses", "mixed"}
	benchGenerator = map[string]string{"lookup": "`narthex loadtest lookup`", "wrk": "`wrk -t1` (`narthex loadtest wrk`)"}
	// the ceiling each scenario is bounded by; mixed has none.
	ceilingOf = map[string]string{"hits": "ceiling", "misses": "ceiling-miss"}
	// carriedHeading matches the headings of the sections this report does
	// not write but carries over from the previous file.
	carriedHeading = regexp.MustCompile(`^## ([2-9]\.|Warnings)`)
	runDate        = regexp.MustCompile(`on (\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC)`)
	markDate       = regexp.MustCompile(`\*Not re-run: from the run of (\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC)`)
)

// WriteBenchmarks writes BENCHMARKS.md from a results folder of bench.sh.
// Sections 2 onwards (bootstrap, lag, memory, ingest, soak, profiles) come
// from sections.md of the folder when the run made them, and their
// targets from targets.md; otherwise they are carried over from previous
// (the file as it was), each marked with the date of the run that made
// it.
func WriteBenchmarks(w io.Writer, r *BenchResults, previous []byte) error {
	var b bytes.Buffer
	f := r.Facts
	more, _ := os.ReadFile(filepath.Join(r.dir, "sections.md"))
	moreTargets, _ := os.ReadFile(filepath.Join(r.dir, "targets.md"))
	oldDate := carriedDate(previous)
	carried := len(more) == 0 && len(previous) > 0
	fmt.Fprintf(&b, "# narthex benchmarks\n\nWritten by `narthex loadtest report` from the results of `%s`, run on %s;\n", f.Command, f.Date)
	b.WriteString("rerun it to refresh this file, do not edit it by hand. Every lookup figure is the\n")
	fmt.Fprintf(&b, "**median of %d run(s)**, measured in one run of the script on one machine, everything on\nloopback; the later sections say how often theirs ran.\n", f.Reps)
	b.WriteString("The commands under each table reproduce its figures once the servers are set up as\nin [Setup](#setup); `$T` is the run's temporary folder.")
	if carried {
		fmt.Fprintf(&b, " Sections 2 to 7 were not re-run: they are\ncarried over from the run of %s, and say so.", oldDate)
	}
	b.WriteString("\n\n")
	writeMachine(&b, f)
	r.writeTargets(&b, moreTargets, previous, carried, oldDate)
	r.writeLookups(&b)
	switch {
	case len(more) > 0:
		b.Write(bytes.TrimSpace(more))
		b.WriteString("\n\n")
	case carried:
		b.Write(carrySections(previous, oldDate))
	}
	r.writeCommands(&b)
	_, err := w.Write(b.Bytes())
	return err
}

func writeMachine(b *bytes.Buffer, f BenchFacts) {
	b.WriteString("## Machine\n\n| | |\n|---|---|\n")
	row := func(k, v string) { fmt.Fprintf(b, "| %s | %s |\n", k, v) }
	row("CPUs (nproc)", fmt.Sprint(f.NProc))
	row("CPU model", f.CPU)
	row("memory", f.Memory)
	row("OS, kernel", f.OS+", "+f.Kernel)
	row("Go", f.Go)
	row("nginx", f.Nginx)
	row("PostgreSQL", f.PostgreSQL)
	row("Nix", f.Nix)
	row("narthex", fmt.Sprintf("commit %s, %d tracked file(s) modified in the working tree when built", f.Commit, f.Dirty))
	row("date", f.Date)
	row("script runtime", fmt.Sprintf("%d min %d s", f.RuntimeS/60, f.RuntimeS%60))
	row("load average (1/5/15 min)", strings.Join(f.Loads, "; "))
	fmt.Fprintf(b, "\nThe machine is shared and busy: other work ran beside this benchmark (see the\n"+
		"load averages), and every load generator runs on the same %d cores as the\n"+
		"server it measures, so throughput is noisy. Server CPU time per answer, and ratios\n"+
		"of servers measured one after another in the same command, are the steadier figures.\n\n", f.NProc)
}

// writeTargets judges the lookup targets, then adds the other sections'.
func (r *BenchResults) writeTargets(b *bytes.Buffer, more, previous []byte, carried bool, oldDate string) {
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
		fmt.Fprintf(b, "| p99 ≤ 1 ms at half of the maximum throughput (uniform %s, open loop) | edge p99 %s at %s req/s | %s |\n",
			sc, mdDur(v), mdRate(at), yesNo(v <= float64(targetOpenP99)))
	}
	switch {
	case len(more) > 0:
		b.Write(bytes.TrimSpace(more))
		b.WriteString("\n")
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

// carrySections returns the sections of previous from "## 2." to the
// last before Setup, each marked as not re-run, with the date of the run
// that made it: date, unless it was carried over before and says so.
func carrySections(previous []byte, date string) []byte {
	var b bytes.Buffer
	for _, sec := range splitSections(string(previous)) {
		if !carriedHeading.MatchString(sec) {
			continue
		}
		if !strings.Contains(sec, notReRun) {
			heading, body, _ := strings.Cut(sec, "\n")
			sec = heading + "\n\n" + notReRun + " from the run of " + date + ", with that run's commands.*\n" + body
		}
		b.WriteString(sec)
	}
	return b.Bytes()
}

// notReRun starts the mark of a carried section.
const notReRun = "*Not re-run:"

// splitSections cuts a Markdown file before each "## " heading.
func splitSections(s string) []string {
	var out []string
	for _, line := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(line, "## ") || len(out) == 0 {
			out = append(out, "")
		}
		out[len(out)-1] += line
	}
	return out
}

// carriedDate is the date of the run whose sections previous carries: the
// one its marks name, else the date the file was written.
func carriedDate(previous []byte) string {
	if m := markDate.FindSubmatch(previous); m != nil {
		return string(m[1])
	}
	if m := runDate.FindSubmatch(previous); m != nil {
		return string(m[1])
	}
	return "an earlier run"
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// mdDur formats nanoseconds as the report shows durations: 8.21 µs, 1.52 ms.
func mdDur(ns float64) string {
	s := fmtDuration(time.Duration(ns))
	for _, u := range []string{"ns", "µs", "ms", "s"} {
		if strings.HasSuffix(s, u) {
			return strings.TrimSuffix(s, u) + " " + u
		}
	}
	return s
}

func mdRate(v float64) string { return fmt.Sprintf("%.0f", v) }

func mdRatio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}
