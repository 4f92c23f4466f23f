package importer

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/narthex-cache/narthex/config"
	"github.com/narthex-cache/narthex/narinfo"
	"github.com/narthex-cache/narthex/placement"
)

const (
	// DefaultJobs is how many paths are hashed and uploaded at once. The
	// work is mostly waiting (on the source's disk or web server, on the
	// origin's commit), and hashing runs at hundreds of MB/s a core, so a
	// few more jobs than cores keep both ends busy; 8 stays far below the
	// origin's 64 connections per client, and the temporary files of an
	// HTTP source stay at 8 NARs.
	DefaultJobs = 8
	// DefaultProgressInterval is how often Progress is called while paths
	// are imported, besides once when the last is done.
	DefaultProgressInterval = time.Second
	// DefaultHeaderTimeout bounds the wait for the headers of an answer of
	// the source or the origin: long enough for an origin committing under
	// load, short enough that a server that hangs stops the import. A body
	// has no bound: a large NAR takes as long as its link needs.
	DefaultHeaderTimeout = time.Minute
)

// DB is what NoPayload needs of the origin's database.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Config says what to import and where. Zero values take the documented
// defaults.
type Config struct {
	// Source is the cache to import: "file:///dir" or a directory path (a
	// directory "nix copy --to file://" wrote), or an http(s) URL of a
	// binary cache. Required.
	Source string
	// Paths are the store paths to import with their closures, each a
	// store path, its base name or its hash. Empty imports every narinfo
	// of a directory source; an HTTP source needs paths.
	Paths []string
	// Origin is the base URL of the origin to upload to. Required.
	Origin string
	// Token is the origin's upload token. Required.
	Token string
	// StoreDir is the store directory of the source: "/gnu/store" for
	// Guix. Default: what the source's nix-cache-info says; when both are
	// given they must agree. The origin's must be the same.
	StoreDir string
	// Jobs is how many paths are hashed and uploaded at once. Default
	// (0) DefaultJobs.
	Jobs int
	// NoPayload adopts an HTTP source in place: it is registered as a
	// read-only http store, its NAR files recorded there, and no NAR byte
	// is uploaded. It needs DB.
	NoPayload bool
	// DB is the origin's database, for NoPayload.
	DB DB
	// StoreName names the http store of NoPayload (placement.ValidName).
	// Default: the source's
	// host, with every character outside [a-z0-9] turned into "-"
	// ("cache.example.org" is "cache-example-org"). A store of that name
	// is reused when it is an http store of the same base URL.
	StoreName string
	// TempDir holds the NAR files of an HTTP source while they are hashed
	// before their upload, one per job. Default os.TempDir().
	TempDir string
	// HeaderTimeout bounds the wait for an answer's headers. Default
	// DefaultHeaderTimeout.
	HeaderTimeout time.Duration
	// Progress, when set, is called with the counts so far every
	// ProgressInterval while paths are imported, and once at the end. It
	// is called from one goroutine at a time.
	Progress func(Progress)
	// ProgressInterval is how often Progress is called. Default
	// DefaultProgressInterval.
	ProgressInterval time.Duration
	// Logger receives the import's logs. Default slog.Default().
	Logger *slog.Logger
}

// Progress is how far an import has come. While the closures to import
// are walked, Planning is true and only Checked counts.
type Progress struct {
	Planning       bool  // the paths to import are still being found
	Checked        int   // paths looked up in the origin and the source so far
	Total          int   // paths found to import (the closure, less what the origin has)
	Done           int   // of Total, imported or refused
	Imported       int   // paths imported
	Refused        int   // paths refused
	AlreadyPresent int   // paths the origin already had (not in Total)
	Bytes          int64 // NAR bytes uploaded or recorded
}

func (c Config) withDefaults() Config {
	if c.Jobs == 0 {
		c.Jobs = DefaultJobs
	}
	if c.HeaderTimeout == 0 {
		c.HeaderTimeout = DefaultHeaderTimeout
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first field of c, defaults applied, that cannot
// work, as a *config.Error. Whether Source is a binary cache is for Run to
// find out.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Source == "" {
		return &config.Error{Field: "Source", Value: `""`, Problem: "is required"}
	}
	if c.Origin == "" {
		return &config.Error{Field: "Origin", Value: `""`, Problem: "is required"}
	}
	if !httpURL(c.Origin) {
		return &config.Error{Field: "Origin", Value: fmt.Sprintf("%q", c.Origin), Problem: "is not an http(s) base URL"}
	}
	if c.Token == "" {
		return &config.Error{Field: "Token", Value: `""`, Problem: "is required", Why: "the origin takes uploads only with a token"}
	}
	if c.StoreDir != "" {
		if err := narinfo.CheckStoreDir(c.StoreDir); err != nil {
			return &config.Error{Field: "StoreDir", Value: fmt.Sprintf("%q", c.StoreDir), Problem: "is not a store directory", Why: err.Error()}
		}
	}
	if c.Jobs < 1 {
		return &config.Error{Field: "Jobs", Value: c.Jobs, Problem: "must be at least 1"}
	}
	if c.HeaderTimeout < 0 {
		return &config.Error{Field: "HeaderTimeout", Value: c.HeaderTimeout, Problem: "must not be negative"}
	}
	if c.ProgressInterval < 0 {
		return &config.Error{Field: "ProgressInterval", Value: c.ProgressInterval, Problem: "must not be negative"}
	}
	if c.NoPayload {
		if c.DB == nil {
			return &config.Error{Field: "DB", Value: "(none)", Problem: "is required with", Other: "NoPayload", OtherValue: true,
				Why: "locations are recorded in the origin's database"}
		}
		if !httpURL(c.Source) {
			return &config.Error{Field: "Source", Value: fmt.Sprintf("%q", c.Source), Problem: "must be an http(s) URL with", Other: "NoPayload", OtherValue: true,
				Why: "clients download an adopted cache's NAR files from it (serve the directory over HTTP and import that URL)"}
		}
	}
	if c.StoreName != "" && !placement.ValidName.MatchString(c.StoreName) {
		return &config.Error{Field: "StoreName", Value: fmt.Sprintf("%q", c.StoreName), Problem: "is not a store name", Why: placement.NameRule}
	}
	return nil
}

// httpURL reports whether s is an http(s) base URL.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.RawQuery == "" && u.Fragment == "" && u.User == nil
}

// newHTTPClient is the client of the source and the origin: connections
// kept for every job, headers bounded, bodies not.
func newHTTPClient(c Config) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = c.Jobs * 2
	t.ResponseHeaderTimeout = c.HeaderTimeout
	return &http.Client{Transport: t}
}
