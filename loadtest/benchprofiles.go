package loadtest

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// fromType is a pprof -top output from its "Type:" line on, without the
// lines about the binary and the build before it.
func fromType(s string) string {
	if i := strings.Index(s, "Type:"); i >= 0 && (i == 0 || s[i-1] == '\n') {
		s = s[i:]
	}
	return strings.TrimRight(s, "\n")
}

// benchLines are the lines of `go test -bench` output that are results.
func benchLines(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "Benchmark") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// writeProfiles writes section 7: where the lookup edge spends its CPU and
// allocations, and the handler alone.
func (r *BenchResults) writeProfiles(b *bytes.Buffer, l *benchLater) {
	fmt.Fprintf(b, "## 7. Profiles of the lookup path\n\n"+
		"The lookup edge of section 1 (`--pprof-listen`), profiled for %d s during\n"+
		"one more closed-loop run of %s each, 64 connections, hits (throughput\n"+
		"%s req/s) and then misses\n"+
		"(%s req/s). The CPU profile is the whole edge process:\n"+
		"the kernel's share of the sockets shows as `Syscall6`; the lookup itself is\n"+
		"`edge.(*Server).narinfo` (cumulative column). Allocations are what the edge\n"+
		"allocated during the run (the difference of its allocation profiles before\n"+
		"and after): the lookup path allocates nothing per request; what shows is\n"+
		"connection setup, the memory cache's copies of bodies read from the replica,\n"+
		"and the replica's own reads.\n\n",
		l.ProfileSeconds, r.Facts.Duration, frate(l.profile["hits"].Throughput), frate(l.profile["misses"].Throughput))
	for _, p := range []struct{ title, file string }{
		{"CPU, hits", "cpu-hits.txt"},
		{"CPU, misses", "cpu-misses.txt"},
		{"Allocated during the hits run (bytes)", "allocs-hits.txt"},
		{"Allocated during the misses run (bytes)", "allocs-misses.txt"},
	} {
		fmt.Fprintf(b, "%s:\n\n```\n%s\n```\n\n", p.title, fromType(l.texts[p.file]))
	}
	fmt.Fprintf(b, "The handler alone, in process, without the network\n"+
		"(`BenchmarkServer_Narinfo`: one replica, one key; ns and allocations per\n"+
		"lookup):\n\n```\n%s\n```\n\n", benchLines(l.texts["edge-bench.txt"]))
	b.WriteString("Commands:\n\n")
	r.writeCommandBlock(b, []string{"profile-cpu", "profile-top", "profile-allocs", "edge-bench"})
}

// warnOrError matches a log line of narthex at WARN or ERROR.
var warnOrError = regexp.MustCompile(`level=(WARN|ERROR)`)

// writeWarnings writes what the narthex processes of the run logged at
// WARN or ERROR: how many lines, and the first five of each.
func (r *BenchResults) writeWarnings(b *bytes.Buffer, l *benchLater) {
	b.WriteString("## Warnings and errors logged by narthex during the run\n\n")
	found := false
	for _, name := range benchLogs {
		var lines []string
		for _, line := range strings.Split(l.texts[name+".log"], "\n") {
			if warnOrError.MatchString(line) {
				lines = append(lines, line)
			}
		}
		if len(lines) == 0 {
			continue
		}
		found = true
		fmt.Fprintf(b, "`%s`: %d line(s) at WARN or ERROR; the first:\n\n```\n", name, len(lines))
		for _, line := range lines[:min(5, len(lines))] {
			if len(line) > 400 {
				line = line[:400]
			}
			if l.tmp != "" {
				line = strings.ReplaceAll(line, l.tmp, "$T")
			}
			b.WriteString(line + "\n")
		}
		b.WriteString("```\n\n")
	}
	if !found {
		b.WriteString("None: the lookup edge, the lag edge and `narthex dev` (origin) logged nothing at WARN or ERROR.\n\n")
	}
}
