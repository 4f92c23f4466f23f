package replication

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/narthex-cache/narthex/config"
	"github.com/narthex-cache/narthex/replica"
	"github.com/narthex-cache/narthex/sql"
)

// Defaults for the zero values of Config fields.
const (
	// DefaultStatusInterval keeps the replicator's reports well inside the
	// server's wal_sender_timeout (60s by default).
	DefaultStatusInterval = 5 * time.Second
	// DefaultReceiveTimeout is PostgreSQL's own wal_receiver_timeout: a
	// server busy decoding a transaction whose changes it filters out
	// answers a status report only once half its wal_sender_timeout (60s
	// by default) has passed, so waiting less would give up a sound
	// connection, again at every retry.
	DefaultReceiveTimeout = 60 * time.Second
	// DefaultMaxBackoff bounds the wait between reconnection attempts: an
	// origin back from a restart is found within seconds.
	DefaultMaxBackoff = 5 * time.Second
	// DefaultMemoryCacheBytes holds the popular narinfos of a large cache.
	DefaultMemoryCacheBytes = replica.DefaultMemoryCacheBytes
	// DefaultSwitchGrace is far longer than a lookup, which holds a replica
	// for microseconds.
	DefaultSwitchGrace = time.Minute
)

// unackedIntervals is how many status intervals a report may wait for
// the server's kernel to acknowledge it before the connection is given
// up (TCP_USER_TIMEOUT). A server busy decoding still acknowledges at
// once, so three unacknowledged reports mean the path to it is gone.
// Waiting for ReceiveTimeout instead keeps an edge stale long after a
// network outage ends: the dead connection's retransmissions back off to
// half a minute and more apart, while a new connection gets through at
// once.
const unackedIntervals = 3

// Config configures a Replicator. Zero values take the documented defaults.
type Config struct {
	// ConnString reaches the origin database as a role with the REPLICATION
	// attribute. Required.
	ConnString string
	// EdgeName names the edge; its slots are named narthex_<EdgeName>_<generation>.
	// Required: 1–40 characters of [a-z0-9_].
	EdgeName string
	// Dir holds the replica. Required.
	Dir string
	// Publication to subscribe to. Default sql.Publication.
	Publication string
	// StatusInterval is how often the replicator reports its position and
	// asks the server for a keepalive. Default DefaultStatusInterval.
	StatusInterval time.Duration
	// ReceiveTimeout ends a connection from which nothing has arrived for
	// this long, although a reply was asked for every StatusInterval: the
	// server or the network is gone without a word. A report the server's
	// kernel leaves unacknowledged for three StatusIntervals (or
	// ReceiveTimeout, if shorter) ends the connection sooner. Default
	// DefaultReceiveTimeout.
	ReceiveTimeout time.Duration
	// MaxBackoff bounds the wait between reconnection attempts. Default
	// DefaultMaxBackoff.
	MaxBackoff time.Duration
	// MemoryCacheBytes bounds the memory cache of recently served narinfo
	// bodies. Default DefaultMemoryCacheBytes; negative turns it off.
	MemoryCacheBytes int
	// SwitchGrace is how long a replaced replica stays open for readers that
	// still hold it. Default DefaultSwitchGrace.
	SwitchGrace time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// unackedTimeout is how long data sent on a connection may go
// unacknowledged before the kernel gives the connection up.
func (c Config) unackedTimeout() time.Duration {
	return min(c.ReceiveTimeout, unackedIntervals*c.StatusInterval)
}

// withDefaults returns c with its zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.Publication == "" {
		c.Publication = sql.Publication
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	if c.ReceiveTimeout == 0 {
		c.ReceiveTimeout = DefaultReceiveTimeout
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.MemoryCacheBytes == 0 {
		c.MemoryCacheBytes = DefaultMemoryCacheBytes
	}
	if c.SwitchGrace == 0 {
		c.SwitchGrace = DefaultSwitchGrace
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
	if c.ConnString == "" {
		return &config.Error{Field: "ConnString", Value: `""`, Problem: "is required"}
	}
	if _, err := pgconn.ParseConfig(c.ConnString); err != nil {
		// The error may quote the string, password included: say only
		// that it does not parse.
		return &config.Error{Field: "ConnString", Value: "(not shown)", Problem: "is not a PostgreSQL connection string"}
	}
	if !sql.ValidEdgeName.MatchString(c.EdgeName) {
		return &config.Error{Field: "EdgeName", Value: fmt.Sprintf("%q", c.EdgeName), Problem: "must be 1-40 characters of [a-z0-9_]"}
	}
	if c.Dir == "" {
		return &config.Error{Field: "Dir", Value: `""`, Problem: "is required"}
	}
	if !validPublication.MatchString(c.Publication) {
		return &config.Error{Field: "Publication", Value: fmt.Sprintf("%q", c.Publication), Problem: "must be a lower-case SQL identifier"}
	}
	return config.NotNegative(config.Duration{Field: "StatusInterval", Value: c.StatusInterval},
		config.Duration{Field: "ReceiveTimeout", Value: c.ReceiveTimeout},
		config.Duration{Field: "MaxBackoff", Value: c.MaxBackoff},
		config.Duration{Field: "SwitchGrace", Value: c.SwitchGrace})
}
