package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

var typeNarinfo = []byte("text/x-nix-narinfo")

// CeilingConfig describes a ceiling server.
type CeilingConfig struct {
	// Listen is a loopback address, such as 127.0.0.1:0. Required.
	Listen string
	// Duration, when above 0, stops the server after that long; 0 serves
	// until the context ends.
	Duration time.Duration
	// Body is the answer to every request. Default: TypicalBody().
	Body []byte
}

// Ceiling is a fasthttp server that answers every request 200 with the
// same narinfo, doing nothing else: the most any fasthttp handler can
// serve on this machine, the upper bound to compare an edge with.
type Ceiling struct {
	cfg      CeilingConfig
	ln       net.Listener
	srv      *fasthttp.Server
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
	if cfg.Body == nil {
		cfg.Body = TypicalBody()
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("ceiling: %w", err)
	}
	c := &Ceiling{cfg: cfg, ln: ln}
	c.srv = &fasthttp.Server{
		Handler:                       c.handle,
		Name:                          "narthex-ceiling",
		DisablePreParseMultipartForm:  true,
		DisableHeaderNamesNormalizing: true,
		NoDefaultDate:                 true,
		NoDefaultContentType:          true,
		ReadTimeout:                   30 * time.Second,
		WriteTimeout:                  30 * time.Second,
		IdleTimeout:                   2 * time.Minute,
		MaxRequestBodySize:            4 << 10,
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
	ctx.Response.SetBodyRaw(c.cfg.Body)
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
	go func() { errc <- c.srv.Serve(c.ln) }()
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
	return &CeilingResult{Addr: c.Addr(), BodyBytes: len(c.cfg.Body), Requests: c.requests.Load(), Elapsed: time.Since(start)}, nil
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
