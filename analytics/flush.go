package analytics

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/narthex-cache/narthex/config"
	"github.com/narthex-cache/narthex/sql"
)

// Defaults of FlusherConfig.
const (
	// DefaultInterval is how often counts go to the database: what a
	// crash of the edge can lose, and a row per key and interval there.
	DefaultInterval = time.Minute
	// DefaultMaxBacklog bounds the keys held for the database while it
	// is unreachable; past it, counts go under OtherKey.
	DefaultMaxBacklog = 1 << 18
	// flushTimeout bounds one batch's transaction.
	flushTimeout = 30 * time.Second
)

// DB is what the flusher needs of the origin database.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// FlusherConfig configures a Flusher. Zero values take the defaults.
type FlusherConfig struct {
	Edge       string        // the edge's name, as its replication slot has it
	Interval   time.Duration // DefaultInterval
	MaxBacklog int           // DefaultMaxBacklog
	Logger     *slog.Logger
}

func (c FlusherConfig) withDefaults() FlusherConfig {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.MaxBacklog == 0 {
		c.MaxBacklog = DefaultMaxBacklog
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate names the first bad field.
func (c FlusherConfig) Validate() error {
	switch {
	case !sql.ValidEdgeName.MatchString(c.Edge):
		return &config.Error{Field: "Edge", Value: fmt.Sprintf("%q", c.Edge), Problem: "must be 1 to 40 characters of [a-z0-9_]"}
	case c.Interval < 0:
		return &config.Error{Field: "Interval", Value: c.Interval, Problem: "must not be negative"}
	case c.MaxBacklog < 0:
		return &config.Error{Field: "MaxBacklog", Value: c.MaxBacklog, Problem: "must not be negative"}
	}
	return nil
}

// Flusher takes the counts of a Counter to the origin database every
// Interval, one batch a transaction, each batch keyed by the edge and a
// sequence number: a batch whose commit went unacknowledged is sent again
// as it was and counted once. While the database is unreachable the batch
// waits and new counts gather beside it, up to MaxBacklog keys. A crash
// loses what was counted since the last flush that committed.
type Flusher struct {
	cfg FlusherConfig
	c   *Counter
	db  DB

	// seq numbers the pending batch: the one after the last batch of
	// the edge in the database, read when the first batch is sent, and
	// kept for every try of that batch.
	seq     int64
	pending []Count
	next    map[Key]uint64
	hour    int64 // of the last drain

	flushes *prometheus.CounterVec
	backlog prometheus.Gauge
}

// NewFlusher makes a flusher of c's counts into db.
func NewFlusher(cfg FlusherConfig, c *Counter, db DB) (*Flusher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	f := &Flusher{
		cfg: cfg, c: c, db: db, next: map[Key]uint64{}, hour: c.Hour(),
		flushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "narthex_edge_analytics_flushes_total",
			Help: "Batches of fetch counts sent to the origin database, by result: ok, duplicate (committed before), failed.",
		}, []string{"result"}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "narthex_edge_analytics_backlog_keys",
			Help: "Counted keys waiting for the origin database.",
		}),
	}
	// Every result is exported from the start, at 0, so that a rate of
	// failures reads 0 rather than nothing before the first one.
	for _, result := range []string{"ok", "duplicate", "failed"} {
		f.flushes.WithLabelValues(result)
	}
	return f, nil
}

// Collectors are the flusher's metrics, for the edge's /metrics.
func (f *Flusher) Collectors() []prometheus.Collector {
	return []prometheus.Collector{f.flushes, f.backlog}
}

// Run flushes every Interval until ctx ends, then once more. It keeps the
// counter's hour current.
func (f *Flusher) Run(ctx context.Context) {
	tick := time.NewTicker(f.cfg.Interval)
	defer tick.Stop()
	clock := time.NewTicker(time.Second)
	defer clock.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			f.Flush(fctx)
			cancel()
			return
		case now := <-clock.C:
			f.c.setHour(now)
		case <-tick.C:
			if err := f.Flush(ctx); err != nil && ctx.Err() == nil {
				f.cfg.Logger.Warn("fetch counts wait for the origin database", "keys", f.keys(), "err", err)
			}
		}
	}
}

// Flush drains the counter and sends what waits, as one batch.
func (f *Flusher) Flush(ctx context.Context) error {
	hour := f.c.Hour()
	f.c.Drain(hour != f.hour, f.gather)
	f.hour = hour
	if f.pending == nil && len(f.next) > 0 {
		f.pending = make([]Count, 0, len(f.next))
		for k, n := range f.next {
			f.pending = append(f.pending, Count{Key: k, Requests: n})
		}
		clear(f.next)
	}
	defer func() { f.backlog.Set(float64(f.keys())) }()
	if f.pending == nil {
		return nil
	}
	if err := f.send(ctx); err != nil {
		f.flushes.WithLabelValues("failed").Inc()
		return err
	}
	f.pending = nil
	f.seq++
	return nil
}

func (f *Flusher) keys() int { return len(f.pending) + len(f.next) }

// gather adds c to the counts that wait for the next batch, under OtherKey
// once MaxBacklog keys wait.
func (f *Flusher) gather(c Count) {
	if _, ok := f.next[c.Key]; !ok && f.keys() >= f.cfg.MaxBacklog {
		c.Key.Key = OtherKey
	}
	f.next[c.Key] += c.Requests
}

// send writes the pending batch as batch f.seq.
func (f *Flusher) send(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	if f.seq == 0 {
		var last int64
		if err := f.db.QueryRow(ctx, qLastBatch, f.cfg.Edge).Scan(&last); err != nil {
			return fmt.Errorf("read the last batch: %w", err)
		}
		f.seq = last + 1
	}
	seq := f.seq
	duplicate := false
	err := pgx.BeginFunc(ctx, f.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, qInsertBatch, f.cfg.Edge, seq)
		if err != nil {
			return fmt.Errorf("insert batch: %w", err)
		}
		if tag.RowsAffected() == 0 {
			duplicate = true
			return nil
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"fetch_count"},
			[]string{"edge", "seq", "hour", "kind", "key", "country", "requests"},
			pgx.CopyFromSlice(len(f.pending), func(i int) ([]any, error) {
				c := f.pending[i]
				return []any{f.cfg.Edge, seq, time.Unix(c.Hour*3600, 0).UTC(), c.Kind.String(), c.Key.Key, c.Country, int64(c.Requests)}, nil
			}))
		if err != nil {
			return fmt.Errorf("copy counts: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if duplicate {
		f.flushes.WithLabelValues("duplicate").Inc()
	} else {
		f.flushes.WithLabelValues("ok").Inc()
	}
	return nil
}
