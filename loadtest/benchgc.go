package loadtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The targets of section 10: a full collection of the million-path graph
// within a minute on this machine, no upload held up past a second by
// it, and edge lookups as fast during it as before.
const (
	targetGCCollection = time.Minute
	targetGCUploadMax  = time.Second
)

// lookupsUnaffected is the judgement of "edge lookups unaffected": no
// wrong answer, and a p99 during the collection within twice the
// baseline's or a millisecond of it, whichever is more.
func lookupsUnaffected(before, during *LookupResult) bool {
	bound := max(2*before.Latency.P99, before.Latency.P99+time.Millisecond)
	return during.Errors == 0 && during.Latency.P99 <= bound
}

// gcHeading starts section 10.
const gcHeading = "## 10. Garbage collection"

// benchGC is section 10: the graph and the ways to mark it (gc.json) and
// the collection under load (gcrun.json).
type benchGC struct {
	graph *GCResult
	run   *GCRunResult // nil when the run did not get that far
}

// readBenchGC reads section 10 from dir; nil when the run did not make it
// (no gc.json).
func readBenchGC(dir string) (*benchGC, error) {
	var g benchGC
	b, err := os.ReadFile(filepath.Join(dir, "gc.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bench results: %w", err)
	}
	if err := json.Unmarshal(b, &g.graph); err != nil {
		return nil, fmt.Errorf("bench results: gc.json: %w", err)
	}
	b, err = os.ReadFile(filepath.Join(dir, "gcrun.json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("bench results: %w", err)
	default:
		if err := json.Unmarshal(b, &g.run); err != nil {
			return nil, fmt.Errorf("bench results: gcrun.json: %w", err)
		}
		if g.run.Baseline.Lookups == nil || g.run.During.Lookups == nil || g.run.During.Uploads == nil {
			return nil, errors.New("bench results: gcrun.json lacks a phase")
		}
	}
	return &g, nil
}

// gcTargetRows judges the targets of section 10; mark follows each
// verdict.
func gcTargetRows(g *benchGC, mark string) []string {
	p := g.graph.Graph.Paths
	if g.run == nil {
		return []string{fmt.Sprintf("| full collection of %d paths < 60 s | not run | %s%s |", p, yesNo(false), mark)}
	}
	r := g.run
	u := r.During.Uploads
	b, d := r.Baseline.Lookups, r.During.Lookups
	return []string{
		fmt.Sprintf("| full collection of %d paths (%d references, half garbage) < 60 s, under load, nothing lost | %.1f s from start to exit (mark %.1f s, sweep %.1f s, payloads %.1f s); checks %s | %s%s |",
			p, g.graph.Graph.References, r.Collection.Seconds(), r.GC.MarkSeconds, r.GC.SweepSeconds, r.GC.PayloadSeconds,
			passedFailed(r.After.Passed()), yesNo(r.Collection < targetGCCollection && r.After.Passed()), mark),
		fmt.Sprintf("| no upload stalled over 1 s during the collection | slowest of %d uploads %s (p99 %s); %d failed | %s%s |",
			u.Uploads, mdDur(float64(u.Upload.Max)), mdDur(float64(u.Upload.P99)), u.Errors,
			yesNo(u.Upload.Max < targetGCUploadMax && u.Errors == 0), mark),
		fmt.Sprintf("| edge lookups unaffected by the collection (p99 within 2× or +1 ms of before, no wrong answer) | p99 %s during vs %s before; %d wrong | %s%s |",
			mdDur(float64(d.Latency.P99)), mdDur(float64(b.Latency.P99)), d.Errors, yesNo(lookupsUnaffected(b, d)), mark),
	}
}

func isGCTarget(row string) bool {
	return strings.Contains(row, "full collection of") || strings.Contains(row, "during the collection") ||
		strings.Contains(row, "unaffected by the collection")
}

// writeGC writes section 10.
func (r *BenchResults) writeGC(b *bytes.Buffer, g *benchGC) {
	f := r.Facts
	b.WriteString(gcHeading + "\n\n")
	fmt.Fprintf(b, madeBy+"%s (`%s`), commit %s; load averages (1/5/15 min): %s.*\n\n",
		f.Date, f.Command, f.Commit, strings.Join(f.Loads, "; "))
	b.WriteString("`narthex loadtest gc` takes an empty database on the PostgreSQL of a `narthex dev`\n" +
		"(default settings: shared_buffers 128 MB, work_mem 4 MB), migrates it and fills it with\n" +
		"a reference graph shaped like a cache Hydra fills: 64 bottom dependencies (path 0, the\n" +
		"libc, referenced by nearly every path), a package set built again and again on top of\n" +
		"them (each build referencing its package's previous build, recent builds and long-lived\n" +
		"libraries), and 8 deep chains of 400 links (bootstrap stages); half the paths are live,\n" +
		"reached from release-channel and CI roots, and half garbage (old builds, most of them\n" +
		"referencing live paths). Each path is uploaded after everything it references, all of\n" +
		"them a month or more before the run, and has a NAR file recorded in the origin's local\n" +
		"store, whose directory holds no bytes (deleting a missing object succeeds). The fill is\n" +
		"checked with SQL: row counts, and a recursive query from the unexpired roots reaching\n" +
		"exactly the live half. Then each way to mark runs in a REPEATABLE READ transaction of\n" +
		"its own, rolled back, on a connection with the settings shown: the seeds (unexpired\n" +
		"roots' paths, paths uploaded or told present within a day, fetched within a week) into\n" +
		"a temporary table, then either one recursive CTE producing the garbage, or a\n" +
		"breadth-first walk, one INSERT … ON CONFLICT DO NOTHING per level into a mark table,\n" +
		"and the garbage as narinfo anti-join that table.\n\n")
	g.graph.WriteTable(b)
	b.WriteString("\n")
	if g.run == nil {
		b.WriteString("The collection under load did not run.\n\n")
	} else {
		b.WriteString("`narthex loadtest gcrun` then runs, against a `narthex origin` and a `narthex edge`\n" +
			"(its replica bootstrapped from the filled database) on loopback, uploads through the\n" +
			"origin's PUT API at a fixed rate and narinfo lookups on the edge in an open loop, first\n" +
			"alone (the baseline), then while `narthex gc --json` collects the database; an upload\n" +
			"whose narinfo names a garbage path deleted meanwhile is refused with a 4xx, and counted\n" +
			"apart from failures. Latencies of uploads are of both PUTs; of lookups, from the\n" +
			"intended send time. Then the database is checked with SQL.\n\n")
		g.run.WriteTable(b)
		b.WriteString("\n")
	}
	r.writeCommandBlock(b, []string{"setup-gc-dev", "setup-gc-database", "gc", "setup-gc-token", "setup-gc-origin", "setup-gc-edge", "gcrun"})
}

// gcSolo is section 10 as a run that made it alone writes it.
func (r *BenchResults) gcSolo() (solo, error) {
	g := r.gc
	if g == nil {
		return solo{}, errors.New("bench results: a gc-only run without gc.json")
	}
	return solo{
		number:   "10",
		heading:  gcHeading,
		write:    func(b *bytes.Buffer) { r.writeGC(b, g) },
		rows:     gcTargetRows(g, " (run of "+r.Facts.Date+")"),
		isTarget: isGCTarget,
	}, nil
}
