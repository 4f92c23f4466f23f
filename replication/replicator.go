package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/narthex-cache/narthex/sql"
	"golang.org/x/sys/unix"
)

// Config configures a Replicator.
type Config struct {
	// ConnString reaches the origin database as a role with the REPLICATION
	// attribute. Required.
	ConnString string
	// EdgeName names the edge; its slots are named narthex_<EdgeName>_<generation>.
	// Required: 1–40 characters of [a-z0-9_].
	EdgeName string
	// Dir holds the replica. Required.
	Dir string
	// Publication to subscribe to. Default "narthex".
	Publication string
	// StatusInterval is how often the replicator reports its position and
	// asks the server for a keepalive. Default 5s; keep it well inside the
	// server's wal_sender_timeout (60s by default).
	StatusInterval time.Duration
	// ReceiveTimeout ends a connection from which nothing has arrived for
	// this long, although a reply was asked for every StatusInterval: the
	// server or the network is gone without a word. Default 60s, as
	// PostgreSQL's own wal_receiver_timeout.
	ReceiveTimeout time.Duration
	// MaxBackoff bounds the wait between reconnection attempts. Default 5s.
	MaxBackoff time.Duration
	// MemoryCacheBytes bounds the memory cache of recently served narinfo
	// bodies. Default 96 MiB; negative turns it off.
	MemoryCacheBytes int
	// SwitchGrace is how long a replaced replica stays open for readers that
	// still hold it. Readers hold a replica for one lookup, microseconds.
	// Default 1m.
	SwitchGrace time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	switch {
	case c.ConnString == "":
		return errors.New("replication: ConnString is required")
	case !sql.ValidEdgeName.MatchString(c.EdgeName):
		return fmt.Errorf("replication: EdgeName %q must be 1-40 characters of [a-z0-9_]", c.EdgeName)
	case c.Dir == "":
		return errors.New("replication: Dir is required")
	case c.Publication != "" && !validPublication.MatchString(c.Publication):
		return fmt.Errorf("replication: Publication %q must be a lower-case SQL identifier", c.Publication)
	case c.StatusInterval < 0 || c.ReceiveTimeout < 0 || c.MaxBackoff < 0 || c.SwitchGrace < 0:
		return errors.New("replication: durations must not be negative")
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Publication == "" {
		c.Publication = sql.Publication
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = 5 * time.Second
	}
	if c.ReceiveTimeout == 0 {
		c.ReceiveTimeout = 60 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.MemoryCacheBytes == 0 {
		c.MemoryCacheBytes = 96 << 20
	}
	if c.SwitchGrace <= 0 {
		c.SwitchGrace = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Status describes the replicator's progress.
type Status struct {
	Bootstrapped bool
	Connected    bool
	Slot         string
	AppliedLSN   pglogrepl.LSN
	ServerWALEnd pglogrepl.LSN
	// CaughtUpAt is the last time the replica held everything the server
	// had sent; the replica's staleness is at most time.Since(CaughtUpAt).
	CaughtUpAt time.Time
	// LastCommit is the origin commit time of the last applied transaction.
	LastCommit   time.Time
	Transactions uint64
	Bootstraps   uint64
	Reconnects   uint64
}

// Replicator keeps a replica in Dir current with the origin.
type Replicator struct {
	cfg    Config
	log    *slog.Logger
	cur    atomic.Pointer[Replica]
	wg     sync.WaitGroup
	cancel context.CancelFunc

	mu     sync.Mutex
	status Status
	old    []*Replica // replaced replicas waiting to close
}

// Open opens the replica in cfg.Dir, if one was bootstrapped before, so that
// it can be served before the replicator connects.
func Open(cfg Config) (*Replicator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	r := &Replicator{cfg: cfg, log: cfg.Logger.With("component", "replication", "edge", cfg.EdgeName)}
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
	rep, m, err := openCurrent(filepath.Join(cfg.Dir, current), cfg.MemoryCacheBytes)
	if err != nil {
		// The replica is a copy of the origin: one that cannot be read is
		// rebuilt, not repaired.
		r.log.Warn("replica unusable; it will be bootstrapped anew", "replica", current, "err", err)
		if err := os.RemoveAll(filepath.Join(cfg.Dir, current)); err != nil {
			return nil, err
		}
		return r, nil
	}
	r.cur.Store(rep)
	r.status.Bootstrapped = true
	r.status.Slot = m.Slot
	r.status.AppliedLSN = m.LSN
	return r, nil
}

// openCurrent opens a bootstrapped replica.
func openCurrent(dir string, hotBytes int) (*Replica, meta, error) {
	rep, err := openReplica(dir, true, hotBytes)
	if err != nil {
		return nil, meta{}, err
	}
	m, err := rep.meta()
	if err == nil && !m.Bootstrapped {
		err = errors.New("no bootstrap record")
	}
	if err != nil {
		rep.Close()
		return nil, meta{}, err
	}
	return rep, m, nil
}

// Replica returns the replica to read from, or nil before the first
// bootstrap. A caller uses it briefly and does not keep it: after a switch
// the old replica closes once Config.SwitchGrace has passed.
func (r *Replicator) Replica() *Replica { return r.cur.Load() }

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

// Start runs the replicator in the background until Close or ctx ends.
func (r *Replicator) Start(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(ctx)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.run(ctx)
	}()
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
		os.RemoveAll(o.dir)
	}
	if rep := r.cur.Swap(nil); rep != nil {
		return rep.Close()
	}
	return nil
}

func (r *Replicator) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		err := r.session(ctx)
		r.update(func(s *Status) { s.Connected = false })
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > 30*time.Second {
			backoff = 100 * time.Millisecond
		}
		r.log.Warn("replication interrupted", "err", err, "retry_in", backoff)
		r.update(func(s *Status) { s.Reconnects++ })
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, r.cfg.MaxBackoff)
	}
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
	var m meta
	if rep != nil {
		if m, err = rep.meta(); err != nil {
			return err
		}
	}
	resume := rep != nil && m.System == sys.SystemID
	if resume {
		if resume, err = slotUsable(sctx, conn, m.Slot, m.LSN); err != nil {
			return err
		}
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
	}
	if !resume {
		if rep != nil {
			r.log.Warn("replica cannot resume; bootstrapping a new one while serving the old", "slot", m.Slot)
		}
		if rep, err = r.bootstrap(ctx, conn, sys.SystemID); err != nil {
			return err
		}
		if m, err = rep.meta(); err != nil {
			return err
		}
	}
	sctx, cancel = setup()
	defer cancel()
	if err := registerEdge(sctx, conn, r.cfg.EdgeName, m.Slot); err != nil {
		return err
	}
	err = stream(ctx, conn, rep, r, m, sys.XLogPos)
	if isSlotLost(err) {
		// The next session finds the slot unusable and bootstraps.
		return fmt.Errorf("%w: %v", ErrSlotLost, err)
	}
	return err
}

// connect opens a replication connection whose socket gives up on a peer
// that stops answering: keepalive probes find an idle dead path, and
// TCP_USER_TIMEOUT one with unacknowledged writes, each within about
// ReceiveTimeout, so no read or write on the connection blocks for longer.
func (r *Replicator) connect(ctx context.Context) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(replicationConnString(r.cfg.ConnString))
	if err != nil {
		return nil, err
	}
	timeout := r.cfg.ReceiveTimeout
	probe := max(timeout/4, time.Second)
	d := &net.Dialer{
		Timeout:         timeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: probe, Interval: probe, Count: 3},
		Control: func(network, address string, c syscall.RawConn) error {
			if !strings.HasPrefix(network, "tcp") {
				return nil
			}
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(timeout.Milliseconds()))
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	cfg.DialFunc = d.DialContext
	return pgconn.ConnectConfig(ctx, cfg)
}

// bootstrap fills a new replica under a new slot, makes it current, and
// retires the previous one.
func (r *Replicator) bootstrap(ctx context.Context, conn *pgconn.PgConn, system string) (*Replica, error) {
	slot := newSlotName(r.cfg.EdgeName)
	if err := dropStaleSlots(ctx, conn, r.cfg.EdgeName, ""); err != nil {
		return nil, err
	}
	dir := filepath.Join(r.cfg.Dir, slot)
	rep, err := openReplica(dir, false, r.cfg.MemoryCacheBytes)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	r.log.Info("bootstrap started", "slot", slot)
	lsn, err := bootstrap(ctx, conn, rep, slot, system, func(rows int) {
		r.log.Info("bootstrap progress", "rows", rows)
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
		s.Bootstraps++
	})
	r.log.Info("bootstrap done", "slot", slot, "lsn", lsn, "took", time.Since(start).Round(time.Millisecond))
	if old != nil {
		r.retire(ctx, old)
	}
	return rep, nil
}

// retire closes and deletes a replaced replica after the switch grace.
func (r *Replicator) retire(ctx context.Context, old *Replica) {
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
		os.RemoveAll(old.dir)
	}()
}

// registerEdge records the edge and the slot it follows, so that the origin
// can tell which slots belong to live edges.
func registerEdge(ctx context.Context, conn *pgconn.PgConn, edge, slot string) error {
	q := fmt.Sprintf(`INSERT INTO edge (name, slot_name) VALUES ('%s', '%s')
		ON CONFLICT (name) DO UPDATE SET slot_name = EXCLUDED.slot_name, last_seen = now()`, edge, slot)
	if _, err := conn.Exec(ctx, q).ReadAll(); err != nil {
		return fmt.Errorf("register edge: %w", err)
	}
	return nil
}

// replicationConnString adds replication=database to a connection string in
// URL or keyword/value form.
func replicationConnString(s string) string {
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		u, err := url.Parse(s)
		if err == nil {
			q := u.Query()
			q.Set("replication", "database")
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return s + " replication=database"
}

const currentFile = "CURRENT"

func readCurrent(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, currentFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read current replica: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// writeCurrent points the replica dir at a new replica, atomically.
func writeCurrent(dir, name string) error {
	tmp := filepath.Join(dir, currentFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(name + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, currentFile)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeUnused deletes replicas other than current: ones replaced by a
// switch, and ones whose bootstrap a crash interrupted.
func removeUnused(dir, current string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() != current && strings.HasPrefix(e.Name(), "narthex_") {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
