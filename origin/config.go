package origin

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/narthex-cache/narthex/config"
	"github.com/narthex-cache/narthex/narinfo"
)

// Defaults for the zero values of Config fields.
const (
	DefaultPriority       = 40
	DefaultLocalStoreName = "local"
	DefaultMaxNarSize     = 4 << 30
	DefaultMaxNarinfoSize = 1 << 20
	// DefaultMaxSignatures bounds the Sig lines of a narinfo, each an
	// ed25519 verification: a cache signs with one or two keys, and a
	// path that passed through several caches carries a few more.
	DefaultMaxSignatures = 64

	// DefaultReadHeaderTimeout bounds a request's headers: a client sends
	// them in one go, so 30 s only ever cuts off the stuck and the hostile.
	DefaultReadHeaderTimeout = 30 * time.Second
	// DefaultIdleTimeout closes a keep-alive connection that carries no
	// request for this long. Nix reconnects when it needs to; 90 s keeps
	// the connections of an upload that pauses to compress a NAR.
	DefaultIdleTimeout = 90 * time.Second
	// DefaultMinUploadRate and DefaultUploadRateWindow cut off a request
	// body that brings less than 1 KiB/s averaged over a minute: 60 KiB a
	// minute, which any honest link, however slow or busy, delivers, and
	// which a trickle meant to hold connections open does not.
	DefaultMinUploadRate    = 1 << 10
	DefaultUploadRateWindow = time.Minute
	// DefaultDownloadStallTimeout cuts off a NAR download whose client
	// takes no downloadChunk (256 KiB) for a minute: about 4 KiB/s, far
	// below any honest link, while a client that stops reading cannot
	// hold a connection for good.
	DefaultDownloadStallTimeout = time.Minute
	// DefaultMaxConnsPerClient bounds the open connections from one IP
	// address. Nix opens up to http-connections (25) at once; the rest is
	// room for a few clients behind one address.
	DefaultMaxConnsPerClient = 64

	// DefaultTempFileMaxAge is the age (time since its last write) after
	// which an upload's temporary file is a crash's leftover: an upload
	// that is still running writes at least every UploadRateWindow, so an
	// hour is far beyond any live one.
	DefaultTempFileMaxAge = time.Hour
	// DefaultSweepInterval is how often the local store is swept of stale
	// temporary files while the origin runs.
	DefaultSweepInterval = 15 * time.Minute
	// DefaultFetchCountRetention is how long the raw fetch counts edges
	// send are kept; their daily and hourly roll-ups stay. A month is
	// enough to look into a recent day by path, edge and country at
	// once.
	DefaultFetchCountRetention = 30 * 24 * time.Hour
)

// Config configures an origin Server. Zero values take the documented
// defaults.
type Config struct {
	// StoreDir is the Nix store directory of the cache, served in
	// nix-cache-info and used to parse narinfos. Default "/nix/store".
	StoreDir string
	// Priority is the nix-cache-info Priority. Default 40 (so 0 cannot be
	// configured; Nix's own caches use 40 and above).
	Priority int
	// PublicURL is how clients reach this origin, e.g.
	// "http://127.0.0.1:8080"; it is the base URL of the local store's
	// downloads. Required.
	PublicURL string
	// LocalStoreName names the local store in the store table. Default
	// "local".
	LocalStoreName string
	// LocalStoreDir is the directory NAR bytes are written to. Required.
	LocalStoreDir string
	// SigningKeys sign every accepted narinfo.
	SigningKeys []narinfo.SecretKey
	// TrustedKeys, together with the public halves of SigningKeys, are the
	// keys uploaded signatures are checked against.
	TrustedKeys []narinfo.PublicKey
	// RequireTrustedSignature refuses narinfos that carry no valid signature
	// by one of TrustedKeys.
	RequireTrustedSignature bool
	// MaxNarSize is the largest NAR file accepted, in bytes. Default 4 GiB.
	MaxNarSize int64
	// MaxNarinfoSize is the largest narinfo accepted, in bytes. Default 1 MiB.
	MaxNarinfoSize int64
	// MaxSignatures is the most Sig lines a narinfo may carry (400
	// above). Default 64.
	MaxSignatures int
	// ReadHeaderTimeout bounds reading the headers of a request. Default
	// 30 s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle this long. Default
	// 90 s.
	IdleTimeout time.Duration
	// MinUploadRate (bytes per second) and UploadRateWindow bound how
	// slowly a request body may arrive: each UploadRateWindow must bring
	// MinUploadRate × UploadRateWindow bytes, or the request is answered
	// 408 and its connection closed. (A body refused before it is read is
	// not waited for: its connection closes after the answer.) Defaults
	// 1 KiB/s and 1 minute.
	MinUploadRate    int64
	UploadRateWindow time.Duration
	// DownloadStallTimeout is the time a client has to take each 256 KiB
	// of a NAR download before it is cut off. Default 1 minute.
	DownloadStallTimeout time.Duration
	// MaxConnsPerClient bounds the open connections from one IP address;
	// more are answered 503 and closed at once. Default 64.
	MaxConnsPerClient int
	// TempFileMaxAge is the time since its last write after which an
	// upload's temporary file in the local store is removed. Default 1 h;
	// it must be longer than UploadRateWindow.
	TempFileMaxAge time.Duration
	// SweepInterval is how often stale temporary files are swept. Default
	// 15 minutes.
	SweepInterval time.Duration
	// FetchCountRetention is how long the raw fetch counts edges send
	// (fetch_batch, fetch_count) are kept; older ones are removed every
	// SweepInterval. Default DefaultFetchCountRetention.
	FetchCountRetention time.Duration
	// OpenStore opens a store of the store table other than the local
	// store, from its kind, settings and base URL, for uploads to land in
	// when the upload rules choose it. Nil: uploads land only in the local
	// store, and stores the rules rank before it are passed over.
	OpenStore func(ctx context.Context, kind string, settings []byte, baseURL string) (PayloadStore, error)
	// Dashboard, when set, answers /dashboard and /api/stats/ on the
	// origin's listener, checking its own credentials; without it those
	// paths are 404 there.
	Dashboard http.Handler
	// ACMEChallenge, if set, may answer a request (an ACME HTTP-01
	// challenge) before the origin's routes do, and reports whether it
	// did.
	ACMEChallenge func(w http.ResponseWriter, r *http.Request) bool
	// HTTPS, if set, is served beside the plain listener of Serve, with
	// the same routes and bounds.
	HTTPS *HTTPS
	// Collectors are metrics of other parts (TLS) served at /metrics
	// beside the origin's own.
	Collectors []prometheus.Collector
	// Logger receives the origin's logs. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults returns c with its zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.StoreDir == "" {
		c.StoreDir = narinfo.NixStoreDir
	}
	if c.Priority == 0 {
		c.Priority = DefaultPriority
	}
	if c.LocalStoreName == "" {
		c.LocalStoreName = DefaultLocalStoreName
	}
	if c.MaxNarSize == 0 {
		c.MaxNarSize = DefaultMaxNarSize
	}
	if c.MaxNarinfoSize == 0 {
		c.MaxNarinfoSize = DefaultMaxNarinfoSize
	}
	if c.MaxSignatures == 0 {
		c.MaxSignatures = DefaultMaxSignatures
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MinUploadRate == 0 {
		c.MinUploadRate = DefaultMinUploadRate
	}
	if c.UploadRateWindow == 0 {
		c.UploadRateWindow = DefaultUploadRateWindow
	}
	if c.DownloadStallTimeout == 0 {
		c.DownloadStallTimeout = DefaultDownloadStallTimeout
	}
	if c.MaxConnsPerClient == 0 {
		c.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	if c.TempFileMaxAge == 0 {
		c.TempFileMaxAge = DefaultTempFileMaxAge
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.FetchCountRetention == 0 {
		c.FetchCountRetention = DefaultFetchCountRetention
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
	if c.HTTPS != nil && (c.HTTPS.Listener == nil || c.HTTPS.TLS == nil) {
		return &config.Error{Field: "HTTPS", Value: "incomplete", Problem: "needs a listener and a TLS configuration"}
	}
	if err := narinfo.CheckStoreDir(c.StoreDir); err != nil {
		return &config.Error{Field: "StoreDir", Value: fmt.Sprintf("%q", c.StoreDir), Problem: "must be a clean absolute directory", Why: err.Error()}
	}
	if c.PublicURL == "" {
		return &config.Error{Field: "PublicURL", Value: `""`, Problem: "is required"}
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return &config.Error{Field: "PublicURL", Value: fmt.Sprintf("%q", c.PublicURL), Problem: "must be an http or https base URL"}
	}
	if c.LocalStoreDir == "" {
		return &config.Error{Field: "LocalStoreDir", Value: `""`, Problem: "is required"}
	}
	for i, k := range c.SigningKeys {
		if k.Name() == "" {
			return &config.Error{Field: "SigningKeys", Value: fmt.Sprintf("[%d]", i), Problem: "is not a parsed key"}
		}
	}
	for i, k := range c.TrustedKeys {
		if k.Name() == "" {
			return &config.Error{Field: "TrustedKeys", Value: fmt.Sprintf("[%d]", i), Problem: "is not a parsed key"}
		}
	}
	if c.RequireTrustedSignature && len(c.TrustedKeys) == 0 {
		return &config.Error{Field: "RequireTrustedSignature", Value: true, Problem: "needs", Other: "TrustedKeys", OtherValue: "(none given)"}
	}
	for _, n := range []struct {
		name     string
		negative bool
		v        any
	}{
		{"Priority", c.Priority < 0, c.Priority},
		{"MaxNarSize", c.MaxNarSize < 0, c.MaxNarSize},
		{"MaxNarinfoSize", c.MaxNarinfoSize < 0, c.MaxNarinfoSize},
		{"MaxSignatures", c.MaxSignatures < 0, c.MaxSignatures},
		{"MinUploadRate", c.MinUploadRate < 0, c.MinUploadRate},
		{"MaxConnsPerClient", c.MaxConnsPerClient < 0, c.MaxConnsPerClient},
		{"ReadHeaderTimeout", c.ReadHeaderTimeout < 0, c.ReadHeaderTimeout},
		{"IdleTimeout", c.IdleTimeout < 0, c.IdleTimeout},
		{"UploadRateWindow", c.UploadRateWindow < 0, c.UploadRateWindow},
		{"DownloadStallTimeout", c.DownloadStallTimeout < 0, c.DownloadStallTimeout},
		{"TempFileMaxAge", c.TempFileMaxAge < 0, c.TempFileMaxAge},
		{"SweepInterval", c.SweepInterval < 0, c.SweepInterval},
		{"FetchCountRetention", c.FetchCountRetention < 0, c.FetchCountRetention},
	} {
		if n.negative {
			return &config.Error{Field: n.name, Value: n.v, Problem: "must not be negative"}
		}
	}
	if c.TempFileMaxAge <= c.UploadRateWindow {
		return &config.Error{Field: "TempFileMaxAge", Value: c.TempFileMaxAge, Problem: "must be longer than",
			Other: "UploadRateWindow", OtherValue: c.UploadRateWindow, Why: "the files of live uploads would be removed"}
	}
	return nil
}

// HTTPS is where and how an origin serves HTTPS.
type HTTPS struct {
	// Listener is the TCP listener of HTTPS; Serve closes it.
	Listener net.Listener
	// TLS serves its certificates.
	TLS *tls.Config
}
