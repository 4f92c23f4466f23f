package gc

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/config"
)

// Defaults for the zero values of Config fields.
const (
	// DefaultGrace keeps every path uploaded within it, and every path or
	// NAR file the origin told an uploader is present: a `nix copy` checks
	// what is there and then uploads the rest, which refers to what it was
	// told exists, and a CI pipeline uploads a closure before it roots it.
	// A day covers the longest of those with room to spare.
	DefaultGrace = 24 * time.Hour
	// DefaultPayloadGrace is how long a NAR file's locations stay after
	// its last narinfo went: the edges' default hit Cache-Control max-age
	// (an hour), so that a client or CDN holding the narinfo can still
	// fetch the NAR. Nix itself keeps narinfos for 30 days; see README.md
	// for that trade-off.
	DefaultPayloadGrace = time.Hour
	// DefaultEdgeTimeout is how long an edge that stopped streaming holds
	// back the deletion of payload bytes: long enough for a restart, a
	// network outage or a weekend, short enough that a dead edge does not
	// keep every deleted payload forever.
	DefaultEdgeTimeout = 24 * time.Hour
	// DefaultBatchSize is how many paths (or objects) one sweep
	// transaction deletes; NAR files are retired at most retireBatch a
	// transaction. An upload that refers to a path in the
	// batch waits for the transaction; a few thousand rows commit in well
	// under a second even on a slow disk.
	DefaultBatchSize = 2000
)

// Config configures a Collector. Zero values take the documented defaults.
type Config struct {
	// DB is the origin database. Required.
	DB *pgxpool.Pool
	// Open opens a store of the store table from its kind, settings and
	// base URL, to delete the bytes of payloads that went. A store it
	// cannot open keeps its payloads' tombstones for the next run, which
	// is logged and reported. Required.
	Open func(ctx context.Context, kind string, settings []byte, baseURL string) (Store, error)
	// Grace keeps paths uploaded within it, and paths and NAR files an
	// authenticated client was told are present within it. Default 24 h.
	Grace time.Duration
	// KeepFetched, when positive, also keeps paths fetched (narinfo hits
	// and NAR redirects counted by the edges) within it. 0 keeps nothing
	// by use.
	KeepFetched time.Duration
	// PayloadGrace is how long a NAR file's locations stay after its last
	// narinfo was deleted. Default 1 h, the edges' hit max-age.
	PayloadGrace time.Duration
	// EdgeTimeout is how long an edge that is not streaming still holds
	// the payload fence, counted from when it was last seen. Default 24 h.
	EdgeTimeout time.Duration
	// BatchSize is how many paths (or objects) one sweep transaction
	// deletes; NAR files are retired at most 200 at a time. Default 2000.
	BatchSize int
	// Name is how the collector shows itself to PostgreSQL: the
	// application_name of the connection holding the lock, which a second
	// collector reports. Default "narthex gc on <host> pid <pid>".
	Name string
	// Progress, when set, is called as a run advances, one call at a time.
	Progress func(Progress)
	// Logger receives the logs. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults returns c with its zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	if c.PayloadGrace == 0 {
		c.PayloadGrace = DefaultPayloadGrace
	}
	if c.EdgeTimeout == 0 {
		c.EdgeTimeout = DefaultEdgeTimeout
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Name == "" {
		host, _ := os.Hostname()
		c.Name = fmt.Sprintf("narthex gc on %s pid %d", host, os.Getpid())
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first field of c, defaults applied, that cannot
// work, as a *config.Error.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.DB == nil {
		return &config.Error{Field: "DB", Value: "nil", Problem: "is required"}
	}
	if c.Open == nil {
		return &config.Error{Field: "Open", Value: "nil", Problem: "is required"}
	}
	if err := config.NotNegative(config.Duration{Field: "Grace", Value: c.Grace},
		config.Duration{Field: "KeepFetched", Value: c.KeepFetched},
		config.Duration{Field: "PayloadGrace", Value: c.PayloadGrace},
		config.Duration{Field: "EdgeTimeout", Value: c.EdgeTimeout}); err != nil {
		return err
	}
	if c.BatchSize < 1 {
		return &config.Error{Field: "BatchSize", Value: c.BatchSize, Problem: "must be at least 1"}
	}
	return nil
}
