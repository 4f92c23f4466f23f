package edge

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/narthex-cache/narthex/analytics"
	"github.com/narthex-cache/narthex/config"
	"github.com/narthex-cache/narthex/narinfo"
	"github.com/narthex-cache/narthex/replica"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
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
	// DefaultEngine is the io_uring loops where there are (Linux): in the
	// engines' table of BENCHMARKS.md (2 cores, shared with the load
	// generators) the epoll loops cost 1.19-1.79× their server CPU per
	// answer at 0.65-1.02× their lookups a second, and fasthttp's server
	// 1.65-2.28× at 0.59-0.87×, hits and misses, hot and uniform sets,
	// both load generators; while the replica applied commits beside
	// lookups, the three lags' p99 were within 2% of each other.
	// Elsewhere, fasthttp's server.
	DefaultEngine = defaultEngine
	// DefaultEventLoops is one: a loop uses one core at most, and on the
	// 2-core machine of BENCHMARKS.md one loop answered more lookups than
	// nginx's two workers and than the ceilings, beside the load
	// generators and the replication on the same cores. Raise it where
	// one core does not keep up with the clients.
	//
	// The Go runtime keeps its defaults: GOMAXPROCS at the number of cores
	// (the same edge with GOMAXPROCS=1 cost 0.95-1.22× the server CPU per
	// answer, and while the replica applied commits beside lookups its
	// lag's p99 was 2.8× the default's and its lookups' p99 12×), and the
	// garbage collector's pace, since a lookup allocates nothing (section
	// 7 of BENCHMARKS.md).
	DefaultEventLoops = 1
	// DefaultReadTimeout is how long a client may take to send a request
	// once its first byte has come: a slow client (or a slowloris) is cut
	// off after that.
	DefaultReadTimeout = 30 * time.Second
	// DefaultIdleTimeout is how long a keep-alive connection may wait
	// between requests: Nix and Guix reuse theirs within seconds.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultNearBandKm is how much further than the nearest store a
	// store may be and still count as nearest, download priority then
	// deciding between them. A City database places many addresses
	// within a few hundred kilometres at best (MaxMind's accuracy radius
	// is often 100 to 1,000 km), and 500 km of fibre add some 5 ms to a
	// round trip, nothing beside a NAR download: closer than that, the
	// operator's priorities (a store's cost, its capacity) say more than
	// the distance does.
	DefaultNearBandKm = 500.0
	// DefaultGeoIPPollInterval is how often the GeoIP database file is
	// checked for a new version: a stat, cheap, and a new database
	// (published weekly or so) is in use a few seconds after it lands.
	DefaultGeoIPPollInterval = 5 * time.Second
)

// The HTTP engines an edge can answer with.
const (
	// EngineFastHTTP serves with fasthttp's server, a goroutine per
	// connection.
	EngineFastHTTP = "fasthttp"
	// EngineEventLoop serves from EventLoops epoll loops (Linux only),
	// which batch the answers to pipelined requests into one write and
	// read a connection once per readiness: fewer system calls, and no
	// scheduler hand-offs, per answer. Requests are still parsed, and
	// answers written, by fasthttp's Request and Response.
	EngineEventLoop = "evloop"
	// EngineURing serves from EventLoops io_uring loops (Linux only), as
	// EngineEventLoop but with one system call for a batch of receives
	// and sends rather than one per receive and one per send. Where the
	// kernel refuses io_uring, it serves as EngineEventLoop.
	EngineURing = "uring"
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
	// Engine is the HTTP server: EngineURing, EngineEventLoop or
	// EngineFastHTTP. Default DefaultEngine.
	Engine string
	// EventLoops is the number of event loops of EngineURing and
	// EngineEventLoop. Default DefaultEventLoops.
	EventLoops int
	// ReadTimeout bounds the time from a request's first byte to its
	// last. Default DefaultReadTimeout.
	ReadTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection. Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// GeoIPDB is a MaxMind-format City database (GeoLite2-City.mmdb,
	// GeoIP2-City.mmdb or one of that layout) that places clients, so
	// that NAR downloads go to the nearest store. It is loaded again when
	// the file changes. Empty, or a file that cannot be loaded: stores
	// are ranked by download priority alone, and the edge serves all the
	// same.
	GeoIPDB string
	// GeoIPPollInterval is how often GeoIPDB is checked for a change.
	// Default DefaultGeoIPPollInterval.
	GeoIPPollInterval time.Duration
	// TrustedProxies are the networks of proxies whose X-Forwarded-For
	// says who the client is. Empty: the header is ignored, and the
	// client is the socket's peer.
	TrustedProxies []netip.Prefix
	// NearBandKm is how much further than the nearest store, in km, a
	// store may be and still count as nearest. Default DefaultNearBandKm
	// (so 0 cannot be configured; a band of 0.001 km lets the nearest
	// store alone win).
	NearBandKm float64
	// Presign, if set, returns a presigned GET URL of the file under key
	// in st, an S3 store without a public base URL. Without it, or when
	// it fails, such a store is passed over for the next copy.
	Presign func(st *replica.Store, key []byte) (string, error)
	// Analytics, if set, counts narinfo hits and misses, NAR redirects and
	// requests by client family, by hour and by the client's country
	// (with the GeoIP database; unknown without one).
	Analytics *analytics.Counter
	// ACMEChallenge, if set, may answer a GET under
	// /.well-known/acme-challenge/ (ACME HTTP-01) and reports whether it
	// did; paths it leaves are answered 404.
	ACMEChallenge func(ctx *fasthttp.RequestCtx) bool
	// HTTPS, if set, is served beside the plain listener of Serve, by
	// fasthttp (whatever Engine serves plain HTTP) over crypto/tls.
	HTTPS *HTTPS
	// Collectors are metrics of other parts (the flusher of Analytics)
	// served at /metrics beside the edge's own.
	Collectors []prometheus.Collector
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// HTTPS is where and how an edge serves HTTPS.
type HTTPS struct {
	// Listener is the TCP listener of HTTPS; Serve closes it.
	Listener net.Listener
	// TLS serves its certificates.
	TLS *tls.Config
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
	if c.Engine == "" {
		c.Engine = DefaultEngine
	}
	if c.EventLoops == 0 {
		c.EventLoops = DefaultEventLoops
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.NearBandKm == 0 {
		c.NearBandKm = DefaultNearBandKm
	}
	if c.GeoIPPollInterval == 0 {
		c.GeoIPPollInterval = DefaultGeoIPPollInterval
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
	case c.Engine != EngineFastHTTP && c.Engine != EngineEventLoop && c.Engine != EngineURing:
		return &config.Error{Field: "Engine", Value: fmt.Sprintf("%q", c.Engine), Problem: "is none of " + EngineURing + ", " + EngineEventLoop + ", " + EngineFastHTTP}
	case c.Engine != EngineFastHTTP && !eventLoopSupported:
		return &config.Error{Field: "Engine", Value: fmt.Sprintf("%q", c.Engine), Problem: "needs Linux"}
	case c.EventLoops < 0 || c.EventLoops > 64:
		return &config.Error{Field: "EventLoops", Value: c.EventLoops, Problem: "is outside [1, 64]"}
	case c.ReadTimeout < 0:
		return &config.Error{Field: "ReadTimeout", Value: c.ReadTimeout, Problem: "must not be negative"}
	case c.IdleTimeout < 0:
		return &config.Error{Field: "IdleTimeout", Value: c.IdleTimeout, Problem: "must not be negative"}
	case !(c.NearBandKm >= 0) || math.IsInf(c.NearBandKm, 1):
		return &config.Error{Field: "NearBandKm", Value: c.NearBandKm, Problem: "must be a distance in km, not negative"}
	case c.GeoIPPollInterval < 0:
		return &config.Error{Field: "GeoIPPollInterval", Value: c.GeoIPPollInterval, Problem: "must not be negative"}
	}
	if c.HTTPS != nil && (c.HTTPS.Listener == nil || c.HTTPS.TLS == nil) {
		return &config.Error{Field: "HTTPS", Value: "incomplete", Problem: "needs a listener and a TLS configuration"}
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return &config.Error{Field: "TrustedProxies", Value: p, Problem: "must be networks in CIDR notation"}
		}
	}
	return nil
}
