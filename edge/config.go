package edge

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Config configures an edge server.
type Config struct {
	// StoreDir is announced in nix-cache-info. Default "/nix/store".
	StoreDir string
	// Priority is announced in nix-cache-info; lower is preferred. Default 40.
	Priority int
	// HitCacheControl is sent with narinfos found. Default "public, max-age=3600".
	HitCacheControl string
	// MissCacheControl is sent with narinfos not found. Default "public, max-age=60".
	MissCacheControl string
	// MaxLag is how stale the replica may be for /readyz to answer ready.
	// Default 30s.
	MaxLag time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	switch {
	case c.StoreDir != "" && (!strings.HasPrefix(c.StoreDir, "/") || strings.HasSuffix(c.StoreDir, "/")):
		return fmt.Errorf("edge: StoreDir %q must be an absolute path without a trailing slash", c.StoreDir)
	case c.Priority < 0:
		return errors.New("edge: Priority must not be negative")
	case c.MaxLag < 0:
		return errors.New("edge: MaxLag must not be negative")
	case strings.ContainsAny(c.HitCacheControl+c.MissCacheControl, "\r\n"):
		return errors.New("edge: Cache-Control values must be one line")
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.StoreDir == "" {
		c.StoreDir = "/nix/store"
	}
	if c.Priority == 0 {
		c.Priority = 40
	}
	if c.HitCacheControl == "" {
		c.HitCacheControl = "public, max-age=3600"
	}
	if c.MissCacheControl == "" {
		c.MissCacheControl = "public, max-age=60"
	}
	if c.MaxLag == 0 {
		c.MaxLag = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}
