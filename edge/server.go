package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/narthex-cache/narthex/replica"
	"github.com/narthex-cache/narthex/replication"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// Source is where the edge reads from: the replicator, in production.
type Source interface {
	// Replica returns the current replica, or nil before the first
	// bootstrap. The edge holds it for one request.
	Replica() *replica.Replica
	// Status says how current the replica is, for /readyz and /metrics.
	Status() replication.Status
}

var _ Source = (*replication.Replicator)(nil)

// Server answers the binary cache protocol from a Source.
type Server struct {
	cfg     Config
	src     Source
	log     *slog.Logger
	errLog  rareLog
	metrics *metrics
	geo     *geoIP
	// storeLog logs stores passed over by redirects.
	storeLog storeLog
	http     *fasthttp.Server
	// https serves HTTPS (Config.HTTPS), whatever the engine of plain
	// HTTP; nil without it.
	https *fasthttp.Server

	cacheInfo                 []byte
	hitCacheCtl, missCacheCtl []byte
	promHandler               fasthttp.RequestHandler
	registry                  *prometheus.Registry // served at /metrics
	// conns counts the client connections open in the event loops;
	// fasthttp's server counts its own.
	conns atomic.Int64
}

// registerAll registers the metrics of other parts.
func registerAll(reg prometheus.Registerer, cs []prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

// New makes a server. It registers its metrics, and the replicator's, on a
// registry of its own served at /metrics.
func New(cfg Config, src Source) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	reg := prometheus.NewRegistry()
	if err := registerAll(reg, cfg.Collectors); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:          cfg,
		src:          src,
		log:          cfg.Logger.With("component", "edge"),
		metrics:      newMetrics(reg, src),
		cacheInfo:    fmt.Appendf(nil, "StoreDir: %s\nWantMassQuery: 1\nPriority: %d\n", cfg.StoreDir, cfg.Priority),
		hitCacheCtl:  []byte(cfg.HitCacheControl),
		missCacheCtl: []byte(cfg.MissCacheControl),
		promHandler:  fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})),
		registry:     reg,
	}
	s.geo = newGeoIP(cfg.GeoIPDB, cfg.GeoIPPollInterval, s.log, reg)
	s.http = s.newFastHTTP()
	if cfg.HTTPS != nil {
		s.https = s.newFastHTTP()
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "narthex_edge_connections",
		Help: "Client connections open.",
	}, func() float64 { return float64(s.openConns()) }))
	return s, nil
}

// newFastHTTP is a fasthttp server answering with Handle.
func (s *Server) newFastHTTP() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:                       s.Handle,
		NoDefaultServerHeader:         true,
		DisablePreParseMultipartForm:  true,
		DisableHeaderNamesNormalizing: true,
		NoDefaultDate:                 true,
		NoDefaultContentType:          true,
		ReadTimeout:                   s.cfg.ReadTimeout,
		WriteTimeout:                  writeTimeout,
		IdleTimeout:                   s.cfg.IdleTimeout,
		MaxRequestBodySize:            maxRequestBody,
		ErrorHandler:                  requestError,
		Logger:                        fasthttpLogger{s.log},
	}
}

// openConns is the number of client connections open.
func (s *Server) openConns() int64 {
	n := s.conns.Load()
	if s.cfg.Engine == EngineFastHTTP {
		n = int64(s.http.GetOpenConnectionsCount())
	}
	if s.https != nil {
		n += int64(s.https.GetOpenConnectionsCount())
	}
	return n
}

// Serve answers requests on ln, and on Config.HTTPS's listener, until ctx
// ends, then shuts down gracefully. An error after ctx ended means
// requests may still be running, so the replica must stay open.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	watch, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { s.geo.watch(watch); close(watched) }()
	defer func() { stopWatch(); <-watched }()
	if s.https == nil {
		return s.servePlain(ctx, ln)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	// One listener failing ends the other.
	go func() {
		err := serveFastHTTP(ctx, s.https, tls.NewListener(s.cfg.HTTPS.Listener, s.cfg.HTTPS.TLS))
		if err == nil && ctx.Err() == nil {
			err = errHTTPSClosed
		}
		cancel()
		errc <- err
	}()
	err := s.servePlain(ctx, ln)
	cancel()
	return errors.Join(err, <-errc)
}

// errHTTPSClosed is Serve's error when the HTTPS listener closed before
// Serve was told to stop.
var errHTTPSClosed = errors.New("https: the listener closed")

// servePlain answers plain HTTP on ln with the configured engine.
func (s *Server) servePlain(ctx context.Context, ln net.Listener) error {
	if s.cfg.Engine != EngineFastHTTP {
		return s.serveLoops(ctx, ln)
	}
	return serveFastHTTP(ctx, s.http, ln)
}

// serveFastHTTP serves srv on ln until ctx ends, then shuts it down
// gracefully.
func serveFastHTTP(ctx context.Context, srv *fasthttp.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := srv.ShutdownWithContext(sctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		return nil
	}
}

// ListenAndServe listens on addr (as Listen) and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := Listen(ctx, addr, s.log)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Listen listens on the TCP address addr. An address in use is tried
// again for up to listenRetry: the kernel closes the listener of an edge
// that was killed once the io_uring requests that hold it are cancelled,
// a moment after the process is gone.
func Listen(ctx context.Context, addr string, log *slog.Logger) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	for end := time.Now().Add(listenRetry); errors.Is(err, syscall.EADDRINUSE) && time.Now().Before(end); {
		log.Info("address in use; trying again", "addr", addr)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
		ln, err = net.Listen("tcp", addr)
	}
	return ln, err
}

const (
	// maxRequestBody is the largest request body read: an edge takes no
	// uploads, and a larger one is answered 413.
	maxRequestBody = 4 << 10
	// maxRequestHeader is the largest request line and header, fasthttp's
	// read buffer: a larger one is answered 431.
	maxRequestHeader = 4 << 10
	// writeTimeout bounds how long an answer may wait for a client that
	// does not read it.
	writeTimeout = 30 * time.Second
	// listenRetry bounds the wait for an address in use.
	listenRetry = 10 * time.Second
	// shutdownTimeout bounds a graceful shutdown.
	shutdownTimeout = 5 * time.Second
)

// requestError answers a request that could not be read: 431 for a header
// beyond the read buffer, 413 for a body beyond MaxRequestBodySize (an edge
// takes no uploads), 408 for a client too slow to send it, 400 otherwise.
func requestError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.As(err, &small):
		ctx.Error("request header too large\n", fasthttp.StatusRequestHeaderFieldsTooLarge)
	case errors.Is(err, errBodyOnGet):
		ctx.Error("malformed request: a GET or HEAD request carries no body\n", fasthttp.StatusBadRequest)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		ctx.Error("request body too large: the edge is read-only; upload to the origin\n", fasthttp.StatusRequestEntityTooLarge)
	case errors.As(err, &netErr) && netErr.Timeout():
		ctx.Error("request timeout\n", fasthttp.StatusRequestTimeout)
	default:
		ctx.Error("malformed request\n", fasthttp.StatusBadRequest)
	}
}

type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...))
}
