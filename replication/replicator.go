package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/narthex-cache/narthex/replica"
)

// ErrReplicaCorrupt ends a session whose replica found a table it cannot
// read: the next session bootstraps a new replica.
var ErrReplicaCorrupt = errors.New("replica corrupt")

// Status describes the replicator's progress.
type Status struct {
	Bootstrapped bool
	Connected    bool
	Slot         string
	AppliedLSN   pglogrepl.LSN
	ServerWALEnd pglogrepl.LSN
	// CaughtUpAt is the last time the replica held everything the server
	// had sent; the replica's staleness is at most time.Since(CaughtUpAt).
	// Zero until the replica has caught up once in this process.
	CaughtUpAt time.Time
	// LastCommit is the origin commit time of the last transaction applied
	// to the replica, or of its bootstrap's snapshot; kept across restarts,
	// zero when unknown.
	LastCommit   time.Time
	Transactions uint64
	// Changes counts the row changes (inserts, updates, deletes and
	// truncates) of the transactions applied.
	Changes    uint64
	Bootstraps uint64
	// Bootstrapping is true while a bootstrap copies the published tables;
	// BootstrapRows is how many rows it has copied so far (counted every
	// few tens of megabytes) and BootstrapRowsExpected the server's
	// estimate of all it will copy, from its statistics (0 when it has
	// none). Both stay as they were once the bootstrap ends.
	Bootstrapping         bool
	BootstrapRows         uint64
	BootstrapRowsExpected uint64
	Reconnects            uint64
	// Corruptions counts replicas found corrupt on disk (each is rebuilt).
	Corruptions uint64
}

// Replicator keeps a replica in Dir current with the origin.
type Replicator struct {
	cfg    Config
	log    *slog.Logger
	cur    atomic.Pointer[replica.Replica]
	wg     sync.WaitGroup
	cancel context.CancelFunc
	// corrupted is signalled when a replica reports corruption.
	corrupted chan struct{}
	done      chan struct{}
	err       error // why the replicator stopped; set before done closes

	mu     sync.Mutex
	status Status
	old    []*replica.Replica // replaced replicas waiting to close
}

// Open opens the replica in cfg.Dir, if one was bootstrapped before, so that
// it can be served before the replicator connects.
func Open(cfg Config) (*Replicator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := &Replicator{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "replication", "edge", cfg.EdgeName),
		corrupted: make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("replica dir: %w", err)
	}
	current, err := readCurrent(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if err := removeUnused(cfg.Dir, current); err != nil {
		return nil, err
	}
	if current == "" {
		return r, nil
	}
	rep, err := replica.Open(filepath.Join(cfg.Dir, current), r.replicaOptions())
	if err != nil {
		// The replica is a copy of the origin: one that cannot be read is
		// rebuilt, not repaired.
		r.log.Warn("replica unusable; it will be bootstrapped anew", "replica", current, "err", err)
		if errors.Is(err, replica.ErrCorrupt) {
			r.status.Corruptions++
		}
		if err := os.RemoveAll(filepath.Join(cfg.Dir, current)); err != nil {
			return nil, err
		}
		return r, nil
	}
	st, err := rep.State()
	if err != nil {
		rep.Close()
		return nil, err
	}
	r.cur.Store(rep)
	r.status.Bootstrapped = true
	r.status.Slot = st.Slot
	r.status.AppliedLSN = st.LSN
	r.status.LastCommit = st.LastCommit
	return r, nil
}

// replicaOptions are the options of every replica the replicator opens.
// A replica that finds corruption tells the replicator, which rebuilds it
// while serving what it can still read.
func (r *Replicator) replicaOptions() replica.Options {
	return replica.Options{
		MemoryCacheBytes: r.cfg.MemoryCacheBytes,
		Logger:           r.log,
		OnCorruption: func(error) {
			r.update(func(s *Status) { s.Corruptions++ })
			select {
			case r.corrupted <- struct{}{}:
			default:
			}
		},
	}
}

// Replica returns the replica to read from, or nil before the first
// bootstrap. A caller uses it briefly and does not keep it: after a switch
// the old replica closes once Config.SwitchGrace has passed.
func (r *Replicator) Replica() *replica.Replica { return r.cur.Load() }

// Status returns a snapshot of the replicator's progress.
func (r *Replicator) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

func (r *Replicator) update(fn func(*Status)) {
	r.mu.Lock()
	fn(&r.status)
	r.mu.Unlock()
}

// Start runs the replicator in the background until Close or ctx ends, or
// until it gives up (see Done).
func (r *Replicator) Start(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(ctx)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(r.done)
		r.err = r.run(ctx)
	}()
}

// Done is closed when the replicator has stopped: after Close, when the
// context of Start ends, or when it gives up, as Err then says.
func (r *Replicator) Done() <-chan struct{} { return r.done }

// Err says why the replicator gave up, once Done is closed: the origin
// refuses an edge that holds no replica yet (see run). It is nil after
// Close or the end of Start's context.
func (r *Replicator) Err() error {
	select {
	case <-r.done:
		return r.err
	default:
		return nil
	}
}

// Close stops the replicator and closes the replica.
func (r *Replicator) Close() error {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	r.mu.Lock()
	old := r.old
	r.old = nil
	r.mu.Unlock()
	for _, o := range old {
		o.Close()
		os.RemoveAll(o.Dir())
	}
	if rep := r.cur.Swap(nil); rep != nil {
		return rep.Close()
	}
	return nil
}

// run runs sessions until ctx ends. A session that fails is retried after
// a backoff, whatever failed, with one exception: when the origin refuses
// the edge (wrong database, password or role; see refused) and the edge
// holds no replica, retrying only hides the mistake from the operator, so
// run gives up and returns the error. An edge that holds a replica keeps
// serving it, stale as it grows, and keeps retrying, logging at error
// level: answers a few minutes old beat no answers while the origin's
// roles are fixed.
func (r *Replicator) run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		err := r.session(ctx)
		r.update(func(s *Status) { s.Connected = false })
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > 30*time.Second || errors.Is(err, ErrReplicaCorrupt) {
			backoff = 100 * time.Millisecond
		}
		switch {
		case refused(err) && r.cur.Load() == nil:
			r.log.Error("the origin refuses this edge; giving up", "err", err)
			return fmt.Errorf("origin refuses the edge: %w", err)
		case refused(err):
			r.log.Error("the origin refuses this edge; serving the replica held, which grows stale, and retrying", "err", err, "retry_in", backoff)
		default:
			r.log.Warn("replication interrupted", "err", err, "retry_in", backoff)
		}
		r.update(func(s *Status) { s.Reconnects++ })
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, r.cfg.MaxBackoff)
	}
	return nil
}

// session connects, bootstraps if the replica cannot resume, and streams
// until an error.
func (r *Replicator) session(ctx context.Context) error {
	conn, err := r.connect(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		// Closing says goodbye to the server; on a dead path that write
		// would block, so it gets a deadline.
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	// Each setup step gets ReceiveTimeout: a server that accepted the
	// connection and then went quiet must not hold the session forever.
	setup := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, r.cfg.ReceiveTimeout)
	}
	sctx, cancel := setup()
	defer cancel()
	sys, err := pglogrepl.IdentifySystem(sctx, conn)
	if err != nil {
		return fmt.Errorf("identify system: %w", err)
	}
	rep := r.cur.Load()
	resume, m, err := r.resumable(sctx, conn, rep, sys.SystemID)
	if err != nil {
		return err
	}
	if resume {
		if err := dropStaleSlots(sctx, conn, r.cfg.EdgeName, m.Slot); err != nil {
			return err
		}
		took, err := takeOver(sctx, conn, m.Slot)
		if err != nil {
			return err
		}
		if took {
			r.log.Warn("ended a previous connection still holding the slot", "slot", m.Slot)
		}
	} else {
		if rep != nil {
			if err := markRebuilding(sctx, conn, r.cfg.EdgeName, servedLSN(m, sys.SystemID)); err != nil {
				return err
			}
		}
		if rep, err = r.bootstrap(ctx, conn, sys.SystemID); err != nil {
			return err
		}
		if m, err = rep.State(); err != nil {
			return err
		}
	}
	sctx, cancel = setup()
	defer cancel()
	if err := registerEdge(sctx, conn, r.cfg.EdgeName, m.Slot); err != nil {
		return err
	}
	err = stream(r.whileSound(ctx, rep), conn, rep, r, m, sys.XLogPos)
	if isSlotLost(err) {
		// The next session finds the slot unusable and bootstraps.
		return fmt.Errorf("%w: %v", ErrSlotLost, err)
	}
	return err
}

// resumable reports whether rep can go on streaming from its slot, and
// what it records about itself.
func (r *Replicator) resumable(ctx context.Context, conn *pgconn.PgConn, rep *replica.Replica, system string) (bool, replica.State, error) {
	if rep == nil {
		return false, replica.State{}, nil
	}
	if rep.Corrupt() {
		r.log.Warn("replica corrupt; bootstrapping a new one while serving what the old one can still read")
		return false, replica.State{}, nil
	}
	m, err := rep.State()
	if errors.Is(err, replica.ErrCorrupt) {
		return false, m, nil
	}
	if err != nil {
		return false, m, err
	}
	resume := m.System == system
	if resume {
		if resume, err = slotUsable(ctx, conn, m.Slot, m.LSN); err != nil {
			return false, m, err
		}
	}
	if !resume {
		r.log.Warn("replica cannot resume; bootstrapping a new one while serving the old", "slot", m.Slot)
	}
	return resume, m, nil
}

// whileSound returns a context that ends, with cause ErrReplicaCorrupt,
// when rep reports corruption, so that the session ends and the next one
// rebuilds the replica.
func (r *Replicator) whileSound(ctx context.Context, rep *replica.Replica) context.Context {
	ctx, cancel := context.WithCancelCause(ctx)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.corrupted:
				// The signal may come from a replica already replaced.
				if rep.Corrupt() {
					cancel(ErrReplicaCorrupt)
					return
				}
			}
		}
	}()
	return ctx
}

// bootstrap fills a new replica under a new slot, makes it current, and
// retires the previous one.
func (r *Replicator) bootstrap(ctx context.Context, conn *pgconn.PgConn, system string) (*replica.Replica, error) {
	slot := newSlotName(r.cfg.EdgeName)
	if err := dropStaleSlots(ctx, conn, r.cfg.EdgeName, ""); err != nil {
		return nil, err
	}
	dir := filepath.Join(r.cfg.Dir, slot)
	rep, err := replica.Create(dir, r.replicaOptions())
	if err != nil {
		return nil, err
	}
	start := time.Now()
	r.log.Info("bootstrap started", "slot", slot)
	r.update(func(s *Status) { s.Bootstrapping, s.BootstrapRows, s.BootstrapRowsExpected = true, 0, 0 })
	defer r.update(func(s *Status) { s.Bootstrapping = false })
	lsn, err := bootstrap(ctx, conn, rep, slot, system, func(rows, expected int) {
		if rows > 0 {
			r.log.Info("bootstrap progress", "rows", rows, "expected", expected)
		}
		r.update(func(s *Status) { s.BootstrapRows, s.BootstrapRowsExpected = uint64(rows), uint64(expected) })
	})
	if err != nil {
		rep.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if err := writeCurrent(r.cfg.Dir, slot); err != nil {
		rep.Close()
		return nil, err
	}
	old := r.cur.Swap(rep)
	r.update(func(s *Status) {
		s.Bootstrapped = true
		s.Slot = slot
		s.AppliedLSN = lsn
		s.CaughtUpAt = time.Now()
		s.LastCommit = rep.LastCommit()
		s.Bootstraps++
	})
	r.log.Info("bootstrap done", "slot", slot, "lsn", lsn, "took", time.Since(start).Round(time.Millisecond))
	if old != nil {
		r.retire(ctx, old)
	}
	return rep, nil
}

// retire closes and deletes a replaced replica after the switch grace.
func (r *Replicator) retire(ctx context.Context, old *replica.Replica) {
	r.mu.Lock()
	r.old = append(r.old, old)
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		select {
		case <-ctx.Done():
			return // Close closes it
		case <-time.After(r.cfg.SwitchGrace):
		}
		r.mu.Lock()
		for i, o := range r.old {
			if o == old {
				r.old = append(r.old[:i], r.old[i+1:]...)
				break
			}
		}
		r.mu.Unlock()
		old.Close()
		os.RemoveAll(old.Dir())
	}()
}
