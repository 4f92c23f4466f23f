package edge

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/narthex-cache/narthex/config"
	"github.com/narthex-cache/narthex/narinfo"
)

// Defaults for the zero values of Config fields.
const (
	// DefaultStoreDir is Nix's store directory.
	DefaultStoreDir = narinfo.NixStoreDir
	// DefaultPriority is what Nix's own caches announce; lower is preferred.
	DefaultPriority = 40
	// DefaultHitCacheControl lets a CDN (and Guix) keep a narinfo for an
	// hour: a narinfo, once published, changes only when it is withdrawn.
	DefaultHitCacheControl = "public, max-age=3600"
	// DefaultMissCacheControl keeps a "no" for a minute only: an upload
	// turns it into a "yes" at any moment.
	DefaultMissCacheControl = "public, max-age=60"
	// DefaultMaxLag is how stale a replica may be and still be called
	// ready: well beyond a replication hiccup, well inside what a user
	// who just uploaded will wait.
	DefaultMaxLag = 30 * time.Second
)

// Config configures an edge server. Zero values take the documented
// defaults.
type Config struct {
	// StoreDir is announced in nix-cache-info. Default DefaultStoreDir.
	StoreDir string
	// Priority is announced in nix-cache-info; lower is preferred. Default
	// DefaultPriority (so 0 cannot be configured).
	Priority int
	// HitCacheControl is sent with narinfos found. Default
	// DefaultHitCacheControl.
	HitCacheControl string
	// MissCacheControl is sent with narinfos not found. Default
	// DefaultMissCacheControl.
	MissCacheControl string
	// MaxLag is how stale the replica may be for /readyz to answer ready.
	// Default DefaultMaxLag.
	MaxLag time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// withDefaults returns c with its zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.StoreDir == "" {
		c.StoreDir = DefaultStoreDir
	}
	if c.Priority == 0 {
		c.Priority = DefaultPriority
	}
	if c.HitCacheControl == "" {
		c.HitCacheControl = DefaultHitCacheControl
	}
	if c.MissCacheControl == "" {
		c.MissCacheControl = DefaultMissCacheControl
	}
	if c.MaxLag == 0 {
		c.MaxLag = DefaultMaxLag
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
	if err := narinfo.CheckStoreDir(c.StoreDir); err != nil {
		return &config.Error{Field: "StoreDir", Value: fmt.Sprintf("%q", c.StoreDir), Problem: "must be a clean absolute directory", Why: err.Error()}
	}
	switch {
	case c.Priority < 0:
		return &config.Error{Field: "Priority", Value: c.Priority, Problem: "must not be negative"}
	case c.MaxLag < 0:
		return &config.Error{Field: "MaxLag", Value: c.MaxLag, Problem: "must not be negative"}
	case strings.ContainsAny(c.HitCacheControl, "\r\n"):
		return &config.Error{Field: "HitCacheControl", Value: fmt.Sprintf("%q", c.HitCacheControl), Problem: "must be one line"}
	case strings.ContainsAny(c.MissCacheControl, "\r\n"):
		return &config.Error{Field: "MissCacheControl", Value: fmt.Sprintf("%q", c.MissCacheControl), Problem: "must be one line"}
	}
	return nil
}
