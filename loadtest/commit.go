package loadtest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultCommitConnections is how many connections commit by default.
const DefaultCommitConnections = 4

// maxCommitConnections bounds the connections of a committer.
const maxCommitConnections = 64

// committer commits transactions at the origin on a fixed schedule:
// transaction k is due at start + k/rate, and the next free connection
// sends it then, or at once when every connection was busy past that time.
// A connection holds one transaction at a time, so with several the
// origin's commit latency does not hold back the schedule.
//
// Transactions are claimed in order, so the acknowledged ones are
// [0, committed) plus the few in flight; sends and acks of those below
// committed may be read by any goroutine once it has loaded committed.
type committer struct {
	start time.Time
	rate  float64
	end   time.Time // no transaction is sent behind schedule after it
	// tx returns the paths of transaction k, each a row set inserted by
	// qInsertPath; it is called once per transaction, by one connection,
	// before the transaction is due.
	tx func(k int) []SynthPath

	sends []time.Duration // since start, when transaction k was sent
	acks  []time.Duration // since start, when transaction k was acknowledged

	mu      sync.Mutex
	next    int // the next transaction to claim
	stopped bool
	acked   []bool
	hist    histogram

	committed atomic.Int64 // transactions [0, committed) are acknowledged
	wakes     []chan struct{}
	done      chan struct{} // closed after the last commit
	doneAt    atomic.Int64  // since start, in ns, when done was closed
}

func newCommitter(total int, rate float64, tx func(k int) []SynthPath) *committer {
	return &committer{
		rate:  rate,
		tx:    tx,
		sends: make([]time.Duration, total),
		acks:  make([]time.Duration, total),
		acked: make([]bool, total),
		hist:  newHistogram(),
		done:  make(chan struct{}),
	}
}

// watch returns a channel that gets a token after each acknowledgement.
func (c *committer) watch() <-chan struct{} {
	w := make(chan struct{}, 1)
	c.wakes = append(c.wakes, w)
	return w
}

// connectCommitters opens n connections to the origin, each with qInsertPath
// prepared, and registers the store the paths are located in.
func connectCommitters(ctx context.Context, url string, n int) ([]*pgx.Conn, error) {
	conns := make([]*pgx.Conn, 0, n)
	for i := range n {
		conn, err := pgx.Connect(ctx, url)
		if err == nil && i == 0 {
			_, err = conn.Exec(ctx, qLoadtestStore)
		}
		if err == nil {
			_, err = conn.Prepare(ctx, "insert_path", qInsertPath)
			if err != nil {
				conn.Close(context.Background())
			}
		}
		if err != nil {
			closeConns(conns)
			return nil, err
		}
		conns = append(conns, conn)
	}
	return conns, nil
}

func closeConns(conns []*pgx.Conn) {
	for _, c := range conns {
		c.Close(context.Background())
	}
}

// run commits every transaction on the schedule from c.start, one
// goroutine per connection, until all are committed, c.end has passed
// with the schedule behind, or ctx ends. The first error stops it and is
// returned; an end of ctx is not an error.
func (c *committer) run(ctx context.Context, conns []*pgx.Conn) error {
	defer func() {
		c.doneAt.Store(int64(time.Since(c.start)))
		close(c.done)
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, conn := range conns {
		wg.Go(func() {
			if errs[i] = c.work(ctx, conn); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// claim hands out the next transaction and its intended time; ok is
// false when there is none left to send.
func (c *committer) claim() (k int, intended time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || c.next >= len(c.acks) {
		return 0, time.Time{}, false
	}
	k = c.next
	intended = c.start.Add(time.Duration(float64(k) / c.rate * float64(time.Second)))
	if now := time.Now(); now.After(c.end) && now.After(intended) {
		// The schedule is over and this transaction is late: so is every
		// later one.
		c.stopped = true
		return 0, time.Time{}, false
	}
	c.next++
	return k, intended, true
}

// work is one connection's loop.
func (c *committer) work(ctx context.Context, conn *pgx.Conn) error {
	for {
		k, intended, ok := c.claim()
		if !ok {
			return nil
		}
		paths := c.tx(k)
		if wait := time.Until(intended); wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		} else if ctx.Err() != nil {
			return nil
		}
		sent := time.Now()
		c.sends[k] = sent.Sub(c.start)
		if err := insertPaths(ctx, conn, paths); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		c.ack(k, intended)
	}
}

// insertPaths inserts paths in one transaction: one statement for one
// path, else a batch, which PostgreSQL runs as one implicit transaction.
func insertPaths(ctx context.Context, conn *pgx.Conn, paths []SynthPath) error {
	args := func(p SynthPath) []any {
		ni, f := p.Info, &p.Info.Files[0]
		return []any{f.URL, f.FileHash, int64(f.FileSize), f.Compression,
			ni.Hash, ni.Name, ni.NarHash, int64(ni.NarSize), ni.Deriver, ni.Sigs, p.Body}
	}
	if len(paths) == 1 {
		_, err := conn.Exec(ctx, "insert_path", args(paths[0])...)
		return err
	}
	var b pgx.Batch
	for _, p := range paths {
		b.Queue("insert_path", args(p)...)
	}
	return conn.SendBatch(ctx, &b).Close()
}

// ack records that transaction k is acknowledged and wakes the watchers.
func (c *committer) ack(k int, intended time.Time) {
	acked := time.Now()
	c.mu.Lock()
	c.acks[k] = acked.Sub(c.start)
	c.acked[k] = true
	c.hist.record(acked.Sub(intended))
	n := int(c.committed.Load())
	for n < len(c.acked) && c.acked[n] {
		n++
	}
	c.committed.Store(int64(n))
	c.mu.Unlock()
	for _, w := range c.wakes {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// summary returns how many transactions are acknowledged, from the first
// on (after run, every one that was, unless run failed or ctx ended), and
// the commit latencies.
func (c *committer) summary() (committed int64, latency Latency) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.committed.Load(), c.hist.summary()
}
