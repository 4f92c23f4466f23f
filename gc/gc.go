package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/pglock"
)

// lockKey is the advisory lock a collection runs under, "ntxgcoll" in
// ASCII. Advisory locks belong to one database, so collectors of
// different caches never meet.
const lockKey int64 = 0x6e747867636f6c6c

// markWorkMem is the work_mem of the mark's statement: a million-path
// cache's live set (its hashes, about 40 MB) sorts in memory.
const markWorkMem = "128MB"

// runRetention is how long finished runs stay in gc_run.
const runRetention = 90 * 24 * time.Hour

// ErrLocked is matched by the error of a run that found another collector
// at work; the error is a *pglock.LockedError naming it.
var ErrLocked = errors.New("garbage collection is already running")

// Store is what collection needs of a store: deleting an object, a
// missing one not being an error.
type Store interface {
	Delete(ctx context.Context, key string) error
}

// Collector runs collections. It holds no state between runs.
type Collector struct {
	cfg Config
	db  *pgxpool.Pool
	log *slog.Logger
}

// New validates cfg and returns a Collector.
func New(cfg Config) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Collector{cfg: cfg, db: cfg.DB, log: cfg.Logger.With("component", "gc")}, nil
}

// Options are what differs from one run to the next.
type Options struct {
	// DryRun changes nothing: it reports, and lists, what a run would
	// delete now.
	DryRun bool
	// List, when set, is called for each path (kind "path", its base
	// name) and each NAR file location (kind "file", its URL, store and
	// size) a dry run would delete, in sweep order.
	List func(kind, name, store string, size int64)
}

// Report is what a run did, or for a dry run what it would do.
type Report struct {
	DryRun       bool `json:"dry_run"`
	RootsExpired int  `json:"roots_expired"`
	// Live and Garbage are the mark's counts of paths.
	Live    int64 `json:"live"`
	Garbage int64 `json:"garbage"`
	// PathsSwept went; PathsKept were marked but found live, or held by
	// someone, when their batch came.
	PathsSwept int64 `json:"paths_swept"`
	PathsKept  int64 `json:"paths_kept"`
	// FilesUnlisted lost their last narinfo in this run; FilesRetired lost
	// their locations (for a dry run: would lose them now).
	FilesUnlisted int64 `json:"files_unlisted"`
	FilesRetired  int64 `json:"files_retired"`
	// ObjectsFreed and BytesFreed were deleted from the stores.
	ObjectsFreed int64 `json:"objects_freed"`
	BytesFreed   int64 `json:"bytes_freed"`
	// ObjectsFenced and BytesFenced wait for the fence (or for a store
	// that could not delete them).
	ObjectsFenced int64 `json:"objects_fenced"`
	BytesFenced   int64 `json:"bytes_fenced"`
	// ObjectsFailed could not be deleted from their store; their
	// tombstones stay for the next run.
	ObjectsFailed int64 `json:"objects_failed"`
	// Stores are, for a dry run, the bytes by store of the files the run
	// would unlist or retire.
	Stores []StoreBytes `json:"stores,omitempty"`
	// Edges say which edges hold the fence, and at what.
	Edges []EdgeFence `json:"edges"`
	// Fence is the WAL position payloads are fenced at, "" when no edge
	// holds one.
	Fence string `json:"fence"`

	MarkSeconds     float64 `json:"mark_seconds"`
	SweepSeconds    float64 `json:"sweep_seconds"`
	PayloadSeconds  float64 `json:"payload_seconds"`
	Batches         int     `json:"batches"`
	MaxBatchSeconds float64 `json:"max_batch_seconds"`
}

// StoreBytes is what a dry run would take out of one store.
type StoreBytes struct {
	Store string `json:"store"`
	Files int64  `json:"files"`
	Bytes int64  `json:"bytes"`
}

// Progress is how far a run has come in its current phase.
type Progress struct {
	Phase string // "mark", "sweep", "retire", "delete"
	Done  int64
	Total int64
}

// Run runs one collection, or with opts.DryRun reports what one would do.
// It returns an error matching ErrLocked, and does nothing, when another
// collector is at work.
func (c *Collector) Run(ctx context.Context, opts Options) (Report, error) {
	conn, err := pglock.TryLock(ctx, c.db.Config().ConnConfig, lockKey, c.cfg.Name, ErrLocked)
	if err != nil {
		return Report{}, err
	}
	defer pglock.Unlock(conn, lockKey)
	r := &run{c: c, conn: conn, opts: opts, rep: Report{DryRun: opts.DryRun}}
	err = r.run(ctx)
	if ctx.Err() != nil {
		err = errors.Join(err, context.Cause(ctx))
	}
	r.finish(err)
	return r.rep, err
}

// run is one collection under way, on the connection holding the lock.
type run struct {
	c        *Collector
	conn     *pgx.Conn
	opts     Options
	rep      Report
	id       int64
	start    time.Time // the database's clock when the run began
	recorded time.Time // when the run's row was last written
}

func (r *run) run(ctx context.Context) error {
	if r.opts.DryRun {
		if err := r.conn.QueryRow(ctx, "SELECT now()").Scan(&r.start); err != nil {
			return fmt.Errorf("read the clock: %w", err)
		}
	} else {
		if err := r.begin(ctx); err != nil {
			return err
		}
	}
	if err := r.mark(ctx); err != nil {
		return err
	}
	if r.opts.DryRun {
		return r.dry(ctx)
	}
	if err := r.sweep(ctx); err != nil {
		return err
	}
	if err := r.retire(ctx); err != nil {
		return err
	}
	return r.reap(ctx)
}

// begin records the run and clears what protects nothing any more:
// expired roots, told marks past the grace, and last-fetched rows of paths
// that are gone.
func (r *run) begin(ctx context.Context) error {
	if _, err := r.conn.Exec(ctx, qCloseInterruptedRuns); err != nil {
		return fmt.Errorf("close interrupted runs: %w", err)
	}
	if err := r.conn.QueryRow(ctx, qStartRun, false).Scan(&r.id, &r.start); err != nil {
		return fmt.Errorf("record the run: %w", err)
	}
	if _, err := r.conn.Exec(ctx, qPruneRuns, r.start.Add(-runRetention)); err != nil {
		return fmt.Errorf("prune runs: %w", err)
	}
	rows, err := r.conn.Query(ctx, qExpireRoots, r.start)
	if err != nil {
		return fmt.Errorf("remove expired roots: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("remove expired roots: %w", err)
	}
	for _, n := range names {
		r.c.log.Info("removed an expired root", "root", n)
	}
	r.rep.RootsExpired = len(names)
	if _, err := r.conn.Exec(ctx, qExpireTold, r.start.Add(-r.c.cfg.Grace)); err != nil {
		return fmt.Errorf("expire told marks: %w", err)
	}
	if _, err := r.conn.Exec(ctx, qOrphanFetched); err != nil {
		return fmt.Errorf("remove last-fetched rows of missing paths: %w", err)
	}
	return nil
}

// graceCut is the upload and told time after which a path or file is
// kept; keepCut the fetch time after which a path is, nil when use keeps
// nothing.
func (r *run) graceCut() time.Time { return r.start.Add(-r.c.cfg.Grace) }

func (r *run) keepCut() *time.Time {
	if r.c.cfg.KeepFetched <= 0 {
		return nil
	}
	t := r.start.Add(-r.c.cfg.KeepFetched)
	return &t
}

// mark fills gc_garbage with the paths no live path reaches.
func (r *run) mark(ctx context.Context) error {
	began := time.Now()
	r.progress("mark", 0, 0)
	if _, err := r.conn.Exec(ctx, qCreateGarbage); err != nil {
		return fmt.Errorf("mark: %w", err)
	}
	if _, err := r.conn.Exec(ctx, "TRUNCATE gc_garbage"); err != nil {
		return fmt.Errorf("mark: %w", err)
	}
	// The mark is one statement over the whole graph: room to sort and
	// hash its live set in memory, and no JIT compilation, which costs
	// seconds for a plan that runs once.
	err := pgx.BeginFunc(ctx, r.conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL work_mem = '"+markWorkMem+"'"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, qMark, r.start, r.graceCut(), r.keepCut())
		r.rep.Garbage = tag.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("mark: %w", err)
	}
	var total int64
	if err := r.conn.QueryRow(ctx, qCountPaths).Scan(&total); err != nil {
		return fmt.Errorf("count paths: %w", err)
	}
	r.rep.Live = max(total-r.rep.Garbage, 0)
	// The planner knows nothing of a temporary table until it is analyzed.
	if _, err := r.conn.Exec(ctx, "ANALYZE gc_garbage"); err != nil {
		return fmt.Errorf("mark: %w", err)
	}
	r.rep.MarkSeconds = time.Since(began).Seconds()
	r.c.log.Info("marked", "live", r.rep.Live, "garbage", r.rep.Garbage, "seconds", round(r.rep.MarkSeconds))
	r.record(ctx, "sweep", nil, false)
	return nil
}

// progress reports how far the run has come, when someone listens.
func (r *run) progress(phase string, done, total int64) {
	if r.c.cfg.Progress != nil {
		r.c.cfg.Progress(Progress{Phase: phase, Done: done, Total: total})
	}
}

// record writes the run's row, at most once a second unless force; a dry
// run has none.
func (r *run) record(ctx context.Context, phase string, runErr error, finished bool) {
	if r.id == 0 || (!finished && time.Since(r.recorded) < time.Second) {
		return
	}
	msg := ""
	if runErr != nil {
		msg = runErr.Error()
	}
	rep := r.rep
	_, err := r.c.db.Exec(ctx, qUpdateRun, r.id, phase, int64(rep.RootsExpired), rep.Live, rep.Garbage,
		rep.PathsSwept, rep.PathsKept, rep.FilesRetired, rep.ObjectsFreed, rep.BytesFreed,
		rep.ObjectsFenced, rep.BytesFenced, rep.MarkSeconds, rep.SweepSeconds, msg, finished)
	if err != nil {
		r.c.log.Warn("could not record the run's progress", "err", err)
		return
	}
	r.recorded = time.Now()
}

// finish records the run's end and logs what it did.
func (r *run) finish(err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	phase := "done"
	if err != nil {
		phase = "failed"
	}
	r.record(ctx, phase, err, true)
	rep := r.rep
	args := []any{"dry_run", rep.DryRun, "roots_expired", rep.RootsExpired, "live", rep.Live, "garbage", rep.Garbage,
		"paths_swept", rep.PathsSwept, "paths_kept", rep.PathsKept, "files_unlisted", rep.FilesUnlisted,
		"files_retired", rep.FilesRetired, "objects_freed", rep.ObjectsFreed, "bytes_freed", rep.BytesFreed,
		"objects_fenced", rep.ObjectsFenced, "bytes_fenced", rep.BytesFenced}
	if err != nil {
		r.c.log.Warn("collection stopped", append(args, "err", err)...)
		return
	}
	r.c.log.Info("collection done", args...)
}

// round rounds seconds for a log line.
func round(s float64) float64 { return float64(int64(s*1000)) / 1000 }
