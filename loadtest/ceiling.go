package loadtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// What an edge answers, by default, to a narinfo lookup: the ceilings send
// the same headers and, for a miss, the same body, so that only the work
// behind the answer differs.
var (
	typeNarinfo      = []byte("text/x-nix-narinfo")
	typeText         = []byte("text/plain; charset=utf-8")
	headerCacheCtl   = []byte("Cache-Control")
	edgeHitCacheCtl  = []byte("public, max-age=3600")
	edgeMissCacheCtl = []byte("public, max-age=60")
	edgeNotFound     = []byte("not found\n")
	edgeFound        = []byte("found\n")
	headerLocation   = []byte("Location")
)

// CeilingConfig describes a ceiling server.
type CeilingConfig struct {
	// Listen is a loopback address, such as 127.0.0.1:0. Required.
	Listen string
	// Duration, when above 0, stops the server after that long; 0 serves
	// until the context ends.
	Duration time.Duration
	// Body is the answer to every request. Default: TypicalBody().
	Body []byte
	// Miss makes the server answer every request as an edge answers a
	// narinfo it does not have (404, its headers and body): the bound for
	// misses, as the default is for hits.
	Miss bool
	// Sink makes the server an empty binary cache that takes every upload
	// and keeps nothing: nix-cache-info is served, every other GET or HEAD
	// is a 404, and every PUT a 200 once its body (up to MaxSinkBody) is
	// read. What a client's uploads cost when the server costs nothing.
	Sink bool
	// Redirect, when set, makes the server answer every request as an
	// edge redirects a NAR download: 302 to this Location, with the edge's
	// headers and body. Given the Location the edge sends, the answers are
	// the same bytes: the bound for redirects, without ranking any store.
	Redirect string
	// TLS, when set, serves HTTPS with it instead of plain HTTP, as an edge
	// serves its HTTPS listener (fasthttp over crypto/tls).
	TLS *tls.Config
}

// MaxSinkBody bounds an upload to a sink.
const MaxSinkBody = 1 << 30

var (
	sinkCacheInfo = []byte("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n")
	sinkNotFound  = []byte("not found\n")
)

// Ceiling is a fasthttp server, configured as an edge's, that answers every
// request 200 with the same narinfo and the edge's hit headers, doing
// nothing else: the most any such handler can serve on this machine, the
// upper bound to compare an edge's hits with. With CeilingConfig.Miss it
// answers every request as an edge's miss, the bound for misses; as a sink
// (CeilingConfig.Sink) it is the same bound for uploads.
type Ceiling struct {
	cfg      CeilingConfig
	ln       net.Listener
	srv      *fasthttp.Server
	location []byte // of every answer with CeilingConfig.Redirect
	requests atomic.Int64
}

// CeilingResult is what a ceiling server served.
type CeilingResult struct {
	Addr      string        `json:"addr"`
	BodyBytes int           `json:"body_bytes"`
	Requests  int64         `json:"requests"`
	Elapsed   time.Duration `json:"elapsed_ns"`
}

// NewCeiling listens on cfg.Listen; Run serves.
func NewCeiling(cfg CeilingConfig) (*Ceiling, error) {
	if cfg.Duration < 0 || cfg.Duration > MaxDuration {
		return nil, fmt.Errorf("ceiling: Duration %v is outside [0, %v]", cfg.Duration, MaxDuration)
	}
	if err := CheckListen(cfg.Listen); err != nil {
		return nil, fmt.Errorf("ceiling: %w", err)
	}
	if n := btoi(cfg.Sink) + btoi(cfg.Miss) + btoi(cfg.Redirect != ""); n > 1 {
		return nil, errors.New("ceiling: Sink, Miss and Redirect exclude each other")
	}
	if cfg.Redirect != "" {
		if u, err := url.Parse(cfg.Redirect); err != nil || !u.IsAbs() || strings.ContainsAny(cfg.Redirect, "\r\n ") {
			return nil, fmt.Errorf("ceiling: Redirect %q is not an absolute URL", cfg.Redirect)
		}
	}
	if cfg.Body == nil {
		cfg.Body = TypicalBody()
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("ceiling: %w", err)
	}
	c := &Ceiling{cfg: cfg, ln: ln}
	handler, maxBody := c.handle, 4<<10
	switch {
	case cfg.Sink:
		handler, maxBody = c.sink, MaxSinkBody
	case cfg.Miss:
		handler = c.miss
	case cfg.Redirect != "":
		c.location = []byte(cfg.Redirect)
		handler = c.redirect
	}
	// The settings of edge.Server's fasthttp.Server, its name included, so
	// that the answers are the same bytes.
	c.srv = &fasthttp.Server{
		Handler:                       handler,
		NoDefaultServerHeader:         true,
		DisablePreParseMultipartForm:  true,
		DisableHeaderNamesNormalizing: true,
		NoDefaultDate:                 true,
		NoDefaultContentType:          true,
		ReadTimeout:                   30 * time.Second,
		WriteTimeout:                  30 * time.Second,
		IdleTimeout:                   2 * time.Minute,
		MaxRequestBodySize:            maxBody,
	}
	return c, nil
}

// typicalBodySize is about the mean body size of a synthetic cache with
// DefaultRefsMax.
const typicalBodySize = 800

// TypicalBody returns the body of the first path of the synthetic cache of
// seed 0 that has at least typicalBodySize bytes: a narinfo of the size
// populate writes on average, with a few references.
func TypicalBody() []byte {
	s := NewSynth(0, DefaultRefsMax)
	for i := 0; ; i++ {
		if b := s.Path(i).Body; len(b) >= typicalBodySize {
			return b
		}
	}
}

// Addr is the address the server listens on.
func (c *Ceiling) Addr() string { return c.ln.Addr().String() }

func (c *Ceiling) handle(ctx *fasthttp.RequestCtx) {
	c.requests.Add(1)
	ctx.Response.Header.SetContentTypeBytes(typeNarinfo)
	ctx.Response.Header.SetBytesKV(headerCacheCtl, edgeHitCacheCtl)
	ctx.Response.SetBodyRaw(c.cfg.Body)
}

func (c *Ceiling) miss(ctx *fasthttp.RequestCtx) {
	c.requests.Add(1)
	ctx.SetStatusCode(fasthttp.StatusNotFound)
	ctx.Response.Header.SetBytesKV(headerCacheCtl, edgeMissCacheCtl)
	ctx.Response.Header.SetContentTypeBytes(typeText)
	ctx.Response.SetBodyRaw(edgeNotFound)
}

func (c *Ceiling) redirect(ctx *fasthttp.RequestCtx) {
	c.requests.Add(1)
	ctx.SetStatusCode(fasthttp.StatusFound)
	ctx.Response.Header.SetBytesKV(headerLocation, c.location)
	ctx.Response.Header.SetContentTypeBytes(typeText)
	ctx.Response.SetBodyRaw(edgeFound)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c *Ceiling) sink(ctx *fasthttp.RequestCtx) {
	c.requests.Add(1)
	switch {
	case ctx.IsPut():
		ctx.SetStatusCode(fasthttp.StatusOK)
	case string(ctx.Path()) == "/nix-cache-info":
		ctx.Response.Header.SetContentType("text/x-nix-cache-info")
		ctx.Response.SetBodyRaw(sinkCacheInfo)
	default:
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.Response.SetBodyRaw(sinkNotFound)
	}
}

// Run serves until ctx ends or the configured duration has passed, then
// shuts down and reports.
func (c *Ceiling) Run(ctx context.Context) (*CeilingResult, error) {
	start := time.Now()
	if c.cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Duration)
		defer cancel()
	}
	errc := make(chan error, 1)
	ln := c.ln
	if c.cfg.TLS != nil {
		ln = tls.NewListener(ln, c.cfg.TLS)
	}
	go func() { errc <- c.srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = c.srv.ShutdownWithContext(shutCtx)
		cancel()
		if serveErr := <-errc; err == nil {
			err = serveErr
		}
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return nil, fmt.Errorf("ceiling: %w", err)
	}
	body := len(c.cfg.Body)
	switch {
	case c.cfg.Miss:
		body = len(edgeNotFound)
	case c.cfg.Redirect != "":
		body = len(edgeFound)
	}
	return &CeilingResult{Addr: c.Addr(), BodyBytes: body, Requests: c.requests.Load(), Elapsed: time.Since(start)}, nil
}

// WriteTable writes the result as a table.
func (r *CeilingResult) WriteTable(w io.Writer) error {
	t := newTable("ceiling " + r.Addr)
	t.add("body", fmt.Sprintf("%d bytes", r.BodyBytes))
	t.add("requests", fmtInt(r.Requests))
	t.add("served for", fmtDuration(r.Elapsed))
	t.add("average", fmtRate(float64(r.Requests)/r.Elapsed.Seconds())+" req/s")
	return t.write(w)
}
