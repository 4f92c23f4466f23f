package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/gc"
)

// gcFlags are the retention settings of a collection, shared by "narthex
// gc" and the origin's schedule (whose flags carry a "gc-" prefix).
type gcFlags struct {
	grace, payloadGrace, edgeTimeout *time.Duration
	keepFetchedDays, batchSize       *int
	localStore                       *string
}

func defineGCFlags(f *flags, prefix string, localStore *string) *gcFlags {
	g := &gcFlags{localStore: localStore}
	g.grace = f.Duration(prefix+"grace", gc.DefaultGrace, "keep every path uploaded within this, and every path or NAR file an authenticated client\n(an uploader checking what to upload) was told is present within this")
	g.keepFetchedDays = f.Int(prefix+"keep-fetched-days", 0, "also keep every path fetched (narinfo hits and NAR redirects counted by the edges)\nwithin this many days, with its closure; 0 keeps nothing by use")
	g.payloadGrace = f.Duration(prefix+"payload-grace", gc.DefaultPayloadGrace, "how long a NAR file stays downloadable after its last narinfo was collected, so that a\nclient holding the narinfo still gets it; at least the edges' hit Cache-Control max-age")
	g.edgeTimeout = f.Duration(prefix+"edge-timeout", gc.DefaultEdgeTimeout, "how long an edge that stopped streaming holds back the deletion of payload bytes,\ncounted from when it was last seen; past it the edge is reported and no longer waited for")
	g.batchSize = f.Int(prefix+"batch-size", gc.DefaultBatchSize, "paths (or objects) deleted per transaction; NAR files go at most 200 at a time")
	return g
}

// gcFlagNames maps gc.Config fields to the flags that set them.
func gcFlagNames(prefix string) map[string]string {
	return map[string]string{
		"Grace":        "--" + prefix + "grace",
		"KeepFetched":  "--" + prefix + "keep-fetched-days",
		"PayloadGrace": "--" + prefix + "payload-grace",
		"EdgeTimeout":  "--" + prefix + "edge-timeout",
		"BatchSize":    "--" + prefix + "batch-size",
	}
}

// collector makes the collector these flags describe.
func (g *gcFlags) collector(db *pgxpool.Pool, prefix string, log *slog.Logger, progress func(gc.Progress)) (*gc.Collector, error) {
	if *g.keepFetchedDays < 0 {
		return nil, fmt.Errorf("--%skeep-fetched-days %d must not be negative", prefix, *g.keepFetchedDays)
	}
	open := openMaintainedStore(*g.localStore)
	c, err := gc.New(gc.Config{
		DB: db,
		Open: func(ctx context.Context, kind string, settings []byte, baseURL string) (gc.Store, error) {
			s, err := open(ctx, kind, settings, baseURL)
			if err != nil {
				return nil, err
			}
			return s, nil
		},
		Grace:        *g.grace,
		KeepFetched:  time.Duration(*g.keepFetchedDays) * 24 * time.Hour,
		PayloadGrace: *g.payloadGrace,
		EdgeTimeout:  *g.edgeTimeout,
		BatchSize:    *g.batchSize,
		Progress:     progress,
		Logger:       log,
	})
	if err != nil {
		return nil, flagError(err, gcFlagNames(prefix))
	}
	return c, nil
}

func runGC(ctx context.Context, args []string) error {
	f := newFlags("gc", "Collects what no root and no recent use keeps alive, one collector at a time: the paths no live\n"+
		"path reaches through the reference graph, then the NAR files no narinfo lists once --payload-grace\n"+
		"has passed, then their bytes in every store once every live edge has applied their deletion.\n"+
		"Live are the closures of unexpired roots (narthex roots), of paths uploaded or told present within\n"+
		"--grace, and, with --keep-fetched-days, of paths fetched within that many days. A killed run\n"+
		"leaves a consistent cache, and the next one finishes its work.")
	dryRun := f.Bool("dry-run", false, "change nothing: list the paths and NAR files a run would delete now, and the bytes by store")
	asJSON := f.Bool("json", false, "print the report as one JSON object (without the dry run's list)")
	localStore := f.String("local-store", "", "directory of the local store whose settings name none (the origin's, as narthex origin --local-store)")
	g := defineGCFlags(f, "", localStore)
	dbURL := f.databaseURL("PostgreSQL connection string of the origin database")
	if err := f.parse(args); err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	url, err := dbURL()
	if err != nil {
		return err
	}
	db, err := openPool(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close()
	p := &gcProgress{log: log}
	c, err := g.collector(db, "", log, p.update)
	if err != nil {
		return err
	}
	opts := gc.Options{DryRun: *dryRun}
	if *dryRun && !*asJSON {
		opts.List = func(kind, name, store string, size int64) {
			if kind == "path" {
				fmt.Printf("path %s\n", name)
				return
			}
			if store == "" {
				fmt.Printf("file %s (no copy in any store)\n", name)
				return
			}
			fmt.Printf("file %s %s %d bytes\n", name, store, size)
		}
	}
	rep, err := c.Run(ctx, opts)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		return enc.Encode(rep)
	}
	printGCReport(os.Stdout, rep)
	return nil
}

// printGCReport writes what a run did, or would do, for a reader.
func printGCReport(w io.Writer, rep gc.Report) {
	verb := "deleted"
	if rep.DryRun {
		verb = "would delete"
	}
	fmt.Fprintf(w, "marked %d paths live, %d garbage (%.1f s)\n", rep.Live, rep.Garbage, rep.MarkSeconds)
	if rep.RootsExpired > 0 {
		fmt.Fprintf(w, "removed %d expired roots\n", rep.RootsExpired)
	}
	fmt.Fprintf(w, "%s %d paths", verb, rep.PathsSwept)
	if !rep.DryRun {
		fmt.Fprintf(w, " in %d batches (%.1f s, longest batch %.3f s); kept %d found live again or in use",
			rep.Batches, rep.SweepSeconds, rep.MaxBatchSeconds, rep.PathsKept)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%d NAR files lost their last narinfo; they stay downloadable for the payload grace\n", rep.FilesUnlisted)
	fmt.Fprintf(w, "%s the records of %d NAR files past the payload grace\n", verb, rep.FilesRetired)
	for _, s := range rep.Stores {
		fmt.Fprintf(w, "  store %s: %d files, %d bytes\n", s.Store, s.Files, s.Bytes)
	}
	fmt.Fprintf(w, "%s %d objects (%d bytes) from the stores; %d objects (%d bytes) wait for the edges\n",
		verb, rep.ObjectsFreed, rep.BytesFreed, rep.ObjectsFenced, rep.BytesFenced)
	if rep.ObjectsFailed > 0 {
		fmt.Fprintf(w, "%d objects could not be deleted; the next run tries again\n", rep.ObjectsFailed)
	}
	for _, e := range rep.Edges {
		line := fmt.Sprintf("edge %s: %s", e.Name, e.State)
		if e.Holds {
			line += ", holds payloads at " + e.LSN
		} else {
			line += ", not waited for"
		}
		fmt.Fprintln(w, line)
	}
}

// gcProgress logs a run's progress at most every few seconds.
type gcProgress struct {
	log   *slog.Logger
	mu    sync.Mutex
	last  time.Time
	phase string
}

func (p *gcProgress) update(pr gc.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr.Phase == p.phase && time.Since(p.last) < 5*time.Second {
		return
	}
	p.phase, p.last = pr.Phase, time.Now()
	if pr.Total > 0 {
		p.log.Info("collection progress", "phase", pr.Phase, "done", pr.Done, "total", pr.Total)
	} else {
		p.log.Info("collection progress", "phase", pr.Phase)
	}
}

// gcEvery runs a collection every interval until ctx ends, the first one
// interval from now.
func gcEvery(ctx context.Context, c *gc.Collector, interval time.Duration, log *slog.Logger) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
		_, err := c.Run(ctx, gc.Options{})
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, gc.ErrLocked):
			log.Info("collection skipped", "reason", err)
		case err != nil:
			log.Warn("collection failed; the next one tries again", "err", err, "next_in", interval)
		}
	}
}
