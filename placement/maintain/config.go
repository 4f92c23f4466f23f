package maintain

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/config"
)

// Defaults for the zero values of Config fields.
const (
	// DefaultJobs is how many copies (or verifications) run at once. A
	// copy into a remote store waits on the network, so one at a time
	// leaves the link idle between requests; four keep an S3 endpoint busy
	// while leaving the origin's disk and bandwidth to the uploads it
	// serves meanwhile.
	DefaultJobs = 4
	// DefaultVerifySample is how many good locations of each store a pass
	// re-hashes, least recently verified first. At the default interval of
	// a pass every 10 minutes that is 14,400 a day: a store of 100,000
	// files is re-read in a week, while one pass reads a bounded amount.
	DefaultVerifySample = 100
	// DefaultTempMaxAge is the time since its last write after which a
	// store's temporary file is a crash's leftover: a write that is still
	// running writes all along, and the origin cuts off uploads that
	// bring nothing for a minute, so an hour is far beyond any live one.
	DefaultTempMaxAge = time.Hour
	// DefaultJobRetention is how long finished jobs stay in store_job:
	// long enough to see what the last weeks' passes did.
	DefaultJobRetention = 30 * 24 * time.Hour
	// DefaultJobUpdateInterval is how often a running job's progress is
	// written to its row: often enough to follow it, rarely enough that
	// the writes cost nothing beside the copies.
	DefaultJobUpdateInterval = time.Second
)

const (
	// VerifyNone, as Config.VerifySample, verifies no location.
	VerifyNone = -1
	// VerifyAll, as Config.VerifySample, verifies every good location each
	// pass.
	VerifyAll = math.MaxInt64
)

// Config configures a Maintainer. Zero values take the documented
// defaults.
type Config struct {
	// DB is the origin database. Required.
	DB *pgxpool.Pool
	// Open opens a store of the store table from its kind, settings and
	// base URL. A store it cannot open is passed over, with the reason
	// logged and recorded in its jobs. Required.
	Open func(ctx context.Context, kind string, settings []byte, baseURL string) (Store, error)
	// Jobs is how many copies or verifications run at once. Default 4.
	Jobs int
	// VerifySample is how many good locations of each store a pass
	// re-hashes, least recently verified first: VerifyAll for every one,
	// VerifyNone (any negative number) for none. Default 100.
	VerifySample int64
	// TempMaxAge is the time since its last write after which a temporary
	// file in a store is removed by the sweep. Default 1 h.
	TempMaxAge time.Duration
	// JobRetention is how long finished jobs are kept. Default 30 days.
	JobRetention time.Duration
	// JobUpdateInterval is how often a running job's row is updated.
	// Default 1 s.
	JobUpdateInterval time.Duration
	// Name is how the runner shows itself to PostgreSQL (the
	// application_name of the connection holding the lock, which a second
	// runner reports) and names its reservations. Default "narthex
	// maintain on <host> pid <pid>".
	Name string
	// Progress, when set, is called as each job advances and when it ends,
	// one call at a time.
	Progress func(Progress)
	// Logger receives the logs. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults returns c with its zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.Jobs == 0 {
		c.Jobs = DefaultJobs
	}
	if c.VerifySample == 0 {
		c.VerifySample = DefaultVerifySample
	}
	if c.TempMaxAge == 0 {
		c.TempMaxAge = DefaultTempMaxAge
	}
	if c.JobRetention == 0 {
		c.JobRetention = DefaultJobRetention
	}
	if c.JobUpdateInterval == 0 {
		c.JobUpdateInterval = DefaultJobUpdateInterval
	}
	if c.Name == "" {
		host, _ := os.Hostname()
		c.Name = fmt.Sprintf("narthex maintain on %s pid %d", host, os.Getpid())
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
	if c.Jobs < 0 {
		return &config.Error{Field: "Jobs", Value: c.Jobs, Problem: "must not be negative"}
	}
	return config.NotNegative(config.Duration{Field: "TempMaxAge", Value: c.TempMaxAge},
		config.Duration{Field: "JobRetention", Value: c.JobRetention},
		config.Duration{Field: "JobUpdateInterval", Value: c.JobUpdateInterval})
}
