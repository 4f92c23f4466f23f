package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/narthex-cache/narthex/placement/maintain"
	"github.com/narthex-cache/narthex/stores"
)

const (
	// defaultMaintainInterval is the time between passes of a maintain
	// that runs until stopped: a backfill or drain goes on from one pass
	// to the next, so the interval only bounds how soon new uploads are
	// copied and how often a sample is verified.
	defaultMaintainInterval = 10 * time.Minute
)

// maintainFlagNames maps maintain.Config fields to the flags that set them.
var maintainFlagNames = map[string]string{
	"Jobs":         "--jobs",
	"VerifySample": "--verify-sample",
	"TempMaxAge":   "--temp-max-age",
}

func runStoresMaintain(ctx context.Context, args []string) error {
	f := newFlags("stores maintain", "Makes the placement of NAR files match the stores' policy, one runner at a time:\n"+
		"verifies a sample of each store's copies, copies into stores with populate every file they lack,\n"+
		"moves every file out of draining stores and the oldest out of stores past their soft_max_size,\n"+
		"and removes the temporary files of interrupted writes. Progress is recorded in the database, so a\n"+
		"stopped or killed run resumes where it stopped.")
	once := f.Bool("once", false, "run one pass and exit, instead of one every --interval until stopped")
	store := f.String("store", "", "work on the store of this name only (copies may come from, or go to, any)")
	jobs := f.Int("jobs", maintain.DefaultJobs, "copies or verifications that run at once")
	verify := f.String("verify-sample", strconv.Itoa(maintain.DefaultVerifySample),
		"copies of each store re-hashed per pass, least recently verified first; 0 for none, all for every one")
	interval := f.Duration("interval", defaultMaintainInterval, "time between passes, without --once")
	tempMaxAge := f.Duration("temp-max-age", maintain.DefaultTempMaxAge, "time since its last write after which a temporary file in a store is removed")
	localStore := f.String("local-store", "", "directory of the local store whose settings name none (the origin's, as narthex origin --local-store)")
	pprofAddr := f.String("pprof-listen", "", "address to serve Go profiles (/debug/pprof/) on; off when empty")
	dbURL := f.databaseURL("PostgreSQL connection string of the origin database")
	if err := f.parse(args); err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	if err := startPprof(ctx, log, *pprofAddr); err != nil {
		return err
	}
	if *jobs < 1 {
		return fmt.Errorf("--jobs %d must be at least 1", *jobs)
	}
	sample, err := parseVerifySample(*verify)
	if err != nil {
		return err
	}
	if !*once && *interval <= 0 {
		return fmt.Errorf("--interval %s must be positive", *interval)
	}
	url, err := dbURL()
	if err != nil {
		return err
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("--database-url: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// Each copy asks for its sources and records itself: a connection
		// each, and a few for the pass's own queries, or the copies wait
		// for each other's connections.
		pcfg.MaxConns = int32(*jobs) + 4
	}
	db, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("--database-url: %w", err)
	}
	defer db.Close()

	view := newProgressView(log)
	m, err := maintain.New(maintain.Config{
		DB:           db,
		Open:         openMaintainedStore(*localStore),
		Jobs:         *jobs,
		VerifySample: sample,
		TempMaxAge:   *tempMaxAge,
		Progress:     view.update,
		Logger:       log,
	})
	if err != nil {
		return flagError(err, maintainFlagNames)
	}
	for {
		sum, err := m.RunOnce(ctx, *store)
		view.stop()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, maintain.ErrUnknownStore):
			return fmt.Errorf("--store: %w", err)
		case *once:
			printSummary(sum)
			return err
		case errors.Is(err, maintain.ErrLocked):
			log.Info("maintenance pass skipped", "reason", err)
		case err != nil:
			log.Warn("maintenance pass failed; the next one tries again", "err", err, "next_in", *interval)
		default:
			for _, j := range sum.Jobs {
				log.Info("job done", "store", j.Store, "job", j.Kind, "done", j.Done, "total", j.Total,
					"bytes", j.Bytes, "failed", j.Failed, "error", j.Error)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*interval):
		}
	}
}

// parseVerifySample reads --verify-sample: a count, 0 for none or "all".
func parseVerifySample(s string) (int64, error) {
	if s == "all" {
		return maintain.VerifyAll, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--verify-sample %q: want a number of copies, 0 for none, or all", s)
	}
	if n == 0 {
		return maintain.VerifyNone, nil
	}
	return n, nil
}

// printSummary writes what a pass did, a line a job.
func printSummary(sum maintain.Summary) {
	if len(sum.Jobs) == 0 {
		fmt.Println("nothing to do")
		return
	}
	for _, j := range sum.Jobs {
		line := fmt.Sprintf("%s %s: %d of %d done, %d bytes, %d failed", j.Kind, j.Store, j.Done, j.Total, j.Bytes, j.Failed)
		if j.Error != "" {
			line += ": " + j.Error
		}
		fmt.Println(line)
	}
}

// openMaintainedStore opens the stores of the store table for maintenance:
// s3 and http stores from their settings (s3 credentials from the AWS
// SDK's default chain, under the store's profile), local ones in the
// directory their settings' "dir" names, or, for one whose settings name
// none, in localDir. That directory must exist, so that a store on a disk
// that is not mounted is never taken for an empty one (its copies would
// all be marked missing).
func openMaintainedStore(localDir string) func(ctx context.Context, kind string, settings []byte, baseURL string) (maintain.Store, error) {
	return func(ctx context.Context, kind string, settings []byte, baseURL string) (maintain.Store, error) {
		if kind != stores.KindLocal {
			return stores.OpenKind(ctx, kind, settings, baseURL, "")
		}
		var s stores.LocalSettings
		if err := json.Unmarshal(settings, &s); err != nil {
			return nil, fmt.Errorf("local store settings: %w", err)
		}
		dir := s.Dir
		if dir == "" {
			dir = localDir
		}
		if dir == "" {
			return nil, errors.New("its settings name no dir; give --local-store")
		}
		// An absent directory is an unmounted disk, not an empty store
		// whose every copy is missing: stores.Open would create it.
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s is not a directory", dir)
		}
		return stores.Open(dir)
	}
}

// progressView shows the progress of a pass's jobs: a bar on a terminal,
// a log line every few seconds otherwise.
type progressView struct {
	log *slog.Logger
	tty bool
	w   io.Writer // where the bars go

	mu      sync.Mutex
	bar     *progressbar.ProgressBar
	current string    // the job the bar or the log lines follow
	logged  time.Time // when progress was last logged
}

func newProgressView(log *slog.Logger) *progressView {
	return &progressView{log: log, tty: term.IsTerminal(int(os.Stderr.Fd())), w: os.Stderr}
}

func (v *progressView) update(p maintain.Progress) {
	v.mu.Lock()
	defer v.mu.Unlock()
	name := p.Kind + " " + p.Store
	handled := p.Done + p.Failed
	if !v.tty {
		if name != v.current {
			v.current, v.logged = name, time.Time{}
		}
		if p.Finished || time.Since(v.logged) >= progressLogInterval {
			v.logged = time.Now()
			v.log.Info("progress", "store", p.Store, "job", p.Kind, "done", p.Done, "failed", p.Failed,
				"total", p.Total, "bytes", p.Bytes, "finished", p.Finished)
		}
		return
	}
	if name != v.current || v.bar == nil {
		v.finishBar()
		v.current = name
		v.bar = progressbar.NewOptions64(p.Total,
			progressbar.OptionSetWriter(v.w),
			progressbar.OptionSetDescription(name),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("files"),
			progressbar.OptionShowIts(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionFullWidth())
	}
	if p.Total != v.bar.GetMax64() {
		v.bar.ChangeMax64(p.Total)
	}
	v.bar.Set64(handled)
	if p.Finished {
		if p.Failed > 0 {
			v.bar.Describe(fmt.Sprintf("%s (%d failed)", name, p.Failed))
		}
		v.finishBar()
	}
}

// finishBar ends the current bar on its own line; v.mu is held.
func (v *progressView) finishBar() {
	if v.bar == nil {
		return
	}
	v.bar.Finish()
	fmt.Fprintln(v.w)
	v.bar, v.current = nil, ""
}

// stop ends the bar of a pass that ended.
func (v *progressView) stop() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.finishBar()
}
