package registry

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/narthex-cache/narthex/config"
)

// Defaults for the zero values of HeartbeatConfig fields.
const (
	// DefaultInterval keeps last_seen well inside the minute after which
	// "narthex edges list" calls an edge away, and costs the origin one
	// single-row UPDATE per edge per interval.
	DefaultInterval = 10 * time.Second
	// DefaultRetryInterval is how soon an edge whose row does not exist
	// yet (its first bootstrap has not made its slot) tries again, so
	// that it is registered within a second of its slot.
	DefaultRetryInterval = time.Second
)

// beatTimeout bounds one beat, a one-row UPDATE, connecting included.
const beatTimeout = 30 * time.Second

// Health is what an edge says of its replica at a heartbeat.
type Health struct {
	// Ready is what its /readyz answers.
	Ready bool
	// Lag is how stale the replica may be; unknown when LagKnown is false.
	Lag      time.Duration
	LagKnown bool
}

// HeartbeatConfig configures a Heartbeat. Zero values take the documented
// defaults.
type HeartbeatConfig struct {
	// Registration is written at every beat. Required (Validate).
	Registration Registration
	// Health is asked at every beat. Required.
	Health func() Health
	// Interval between beats. Default DefaultInterval.
	Interval time.Duration
	// RetryInterval between beats while the edge has no row yet, and
	// after a beat that failed. Default DefaultRetryInterval, at most
	// Interval.
	RetryInterval time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

func (c HeartbeatConfig) withDefaults() HeartbeatConfig {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = min(DefaultRetryInterval, c.Interval)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first field of c, defaults applied, that cannot
// work, as a *config.Error.
func (c HeartbeatConfig) Validate() error {
	c = c.withDefaults()
	if err := c.Registration.Validate(); err != nil {
		return err
	}
	if c.Health == nil {
		return &config.Error{Field: "Health", Value: "nil", Problem: "is required"}
	}
	if c.Interval <= 0 {
		return &config.Error{Field: "Interval", Value: c.Interval, Problem: "must be positive"}
	}
	if c.RetryInterval <= 0 || c.RetryInterval > c.Interval {
		return &config.Error{Field: "RetryInterval", Value: c.RetryInterval, Problem: "must be positive and not longer than", Other: "Interval", OtherValue: c.Interval}
	}
	return nil
}

// Execer runs a statement: a *pgxpool.Pool or *pgx.Conn.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// ErrNotRegistered is the error of a beat that found no row of the edge:
// its replicator has not made its slot yet.
var ErrNotRegistered = errors.New("edge not registered yet: its replicator makes its row with its first slot")

// Heartbeat writes an edge's registration and health to the origin
// database, now and on an interval, while it runs.
type Heartbeat struct {
	cfg HeartbeatConfig
	db  Execer
	log *slog.Logger
}

// NewHeartbeat returns a heartbeat of cfg over db.
func NewHeartbeat(cfg HeartbeatConfig, db Execer) (*Heartbeat, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Heartbeat{cfg: cfg, db: db, log: cfg.Logger}, nil
}

// Beat writes the registration and health once; ErrNotRegistered when the
// edge has no row yet. It gives up after beatTimeout: an origin that
// stopped answering must not hold the heartbeat for longer than the
// kernel's TCP timeouts.
func (h *Heartbeat) Beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, beatTimeout)
	defer cancel()
	r, health := h.cfg.Registration, h.cfg.Health()
	var lag *int64
	if health.LagKnown {
		us := health.Lag.Microseconds()
		lag = &us
	}
	tag, err := h.db.Exec(ctx, qHeartbeat, r.Name, r.Region, r.Latitude, r.Longitude,
		r.PublicAddresses, r.PublicURL, health.Ready, lag)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotRegistered
	}
	return nil
}

// Run beats until ctx ends: at once, then every Interval, and every
// RetryInterval while the edge has no row yet or a beat failed. A failed
// beat is logged (once until one succeeds) and tried again; the edge
// serves on regardless.
func (h *Heartbeat) Run(ctx context.Context) {
	registered, failing := false, false
	for {
		wait := h.cfg.Interval
		switch err := h.Beat(ctx); {
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrNotRegistered):
			wait = h.cfg.RetryInterval
			h.log.Debug("registry: " + err.Error())
		case err != nil:
			wait = h.cfg.RetryInterval
			if !failing {
				h.log.Warn("registry: heartbeat failed; trying again", "err", err)
			}
			failing = true
		default:
			if !registered {
				h.log.Info("registry: edge registered", "edge", h.cfg.Registration.Name)
			} else if failing {
				h.log.Info("registry: heartbeat back")
			}
			registered, failing = true, false
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
