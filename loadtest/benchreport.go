package loadtest

import (
	"bytes"
	"fmt"
	"io"
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
	carriedHeading = regexp.MustCompile(`^## ([2-9]\.|1[01]\.|Warnings)`)
	runDate        = regexp.MustCompile(`on (\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC)`)
	markDate       = regexp.MustCompile(`\*Not re-run: from the run of (\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC)`)
)

// WriteBenchmarks writes BENCHMARKS.md from a results folder of bench.sh.
// Sections 2 onwards (bootstrap, lag, memory, ingest, soak, profiles) are
// written from their raw results when the run made them; otherwise they
// are carried over from previous (the file as it was), each marked with
// the date of the run that made it, and so are their targets.
func WriteBenchmarks(w io.Writer, r *BenchResults, previous []byte) error {
	switch {
	case r.Facts.StoresOnly:
		s, err := r.storesSolo()
		if err != nil {
			return err
		}
		return writeSolo(w, r, previous, s)
	case r.Facts.DashboardOnly:
		s, err := r.dashboardSolo()
		if err != nil {
			return err
		}
		return writeSolo(w, r, previous, s)
	case r.Facts.GCOnly:
		s, err := r.gcSolo()
		if err != nil {
			return err
		}
		return writeSolo(w, r, previous, s)
	case r.Facts.HTTPSOnly:
		s, err := r.httpsSolo()
		if err != nil {
			return err
		}
		return writeSolo(w, r, previous, s)
	}
	var b bytes.Buffer
	f := r.Facts
	l := r.later
	oldDate := carriedDate(previous)
	carried := l == nil && len(previous) > 0
	fmt.Fprintf(&b, "# narthex benchmarks\n\nWritten by `narthex loadtest report` from the results of `%s`, run on %s;\n", f.Command, f.Date)
	b.WriteString("rerun it to refresh this file, do not edit it by hand. Every lookup figure is the\n")
	fmt.Fprintf(&b, "**median of %d run(s)**, measured in one run of the script on one machine, everything on\nloopback; the later sections say how often theirs ran.\n", f.Reps)
	b.WriteString("The commands under each table reproduce its figures once the servers are set up as\nin [Setup](#setup); `$T` is the run's temporary folder.")
	if carried {
		fmt.Fprintf(&b, " Sections 2 to 7 were not re-run: they are\ncarried over from the run of %s, and say so.", oldDate)
	}
	b.WriteString("\n\n")
	writeMachine(&b, f)
	r.writeTargets(&b, previous, carried, oldDate)
	r.writeLookups(&b)
	switch {
	case l != nil:
		r.writeBootstrap(&b, l)
		r.writeLag(&b, l)
		r.writeMemory(&b, l)
		if l.hasIngest {
			r.writeIngest(&b, l)
		}
		if l.hasSoak {
			r.writeSoak(&b, l)
		}
		if l.hasProfiles {
			r.writeProfiles(&b, l)
		}
		if r.stores != nil {
			r.writeStores(&b, r.stores)
		}
		if r.dashboard != nil {
			r.writeDashboard(&b, r.dashboard)
		}
		if r.gc != nil {
			r.writeGC(&b, r.gc)
		}
		r.writeOrCarryHTTPS(&b, previous)
		r.writeWarnings(&b, l)
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
	if f.MemoryKiB > 0 {
		row("memory", fmt.Sprintf("%.1f GiB", float64(f.MemoryKiB)/(1<<20)))
	} else {
		row("memory", f.Memory)
	}
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

// carrySections returns the sections of previous from "## 2." to the
// last before Setup, each marked as not re-run, with the date of the run
// that made it: date, unless it was carried over before and says so.
func carrySections(previous []byte, date string) []byte {
	var b bytes.Buffer
	for _, sec := range splitSections(string(previous)) {
		if !carriedHeading.MatchString(sec) {
			continue
		}
		if !strings.Contains(sec, notReRun) && !strings.Contains(sec, madeBy) {
			heading, body, _ := strings.Cut(sec, "\n")
			sec = heading + "\n\n" + notReRun + " from the run of " + date + ", with that run's commands.*\n" + body
		}
		b.WriteString(sec)
	}
	return b.Bytes()
}

// notReRun starts the mark of a carried section; madeBy the date line of a
// section that names its own run (section 8).
const (
	notReRun = "*Not re-run:"
	madeBy   = "*Made by the run of "
)

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
