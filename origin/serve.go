package origin

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// shutdownTimeout bounds a graceful stop: requests still running after it
// are cut off.
const shutdownTimeout = 10 * time.Second

// Serve serves the origin on ln until ctx ends, then stops gracefully. It
// bounds what a client can hold: ReadHeaderTimeout, IdleTimeout, the
// minimum upload rate, DownloadStallTimeout and MaxConnsPerClient, and runs the background
// sweep of the local store's crash leftovers and the renewal of the room
// that uploads in flight hold.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := s.httpServer()
	var wg sync.WaitGroup
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer func() {
		stopSweep()
		wg.Wait()
	}()
	wg.Go(func() { s.sweepLoop(sweepCtx) })
	wg.Go(func() { s.renewLoop(sweepCtx) })

	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(s.limitListener(ln, true)) }()
	servers := []*http.Server{hs}
	if h := s.cfg.HTTPS; h != nil {
		hss := s.httpServer()
		hss.TLSConfig = h.TLS
		servers = append(servers, hss)
		go func() { errc <- hss.Serve(tls.NewListener(s.limitListener(h.Listener, false), h.TLS)) }()
	}
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	// Either listener failing, or ctx ending, stops both.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if serr := srv.Shutdown(sctx); serr != nil && !errors.Is(serr, context.DeadlineExceeded) && err == nil {
			err = serr
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// httpServer is the HTTP server of the origin, with its time bounds.
func (s *Server) httpServer() *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// limitListener bounds the open connections per client address of ln,
// counted with those of the server's other listener; answer sends
// refused connections the plain-HTTP refusal.
func (s *Server) limitListener(ln net.Listener, answer bool) net.Listener {
	return newClientLimitListener(ln, s.conns, s.cfg.MaxConnsPerClient, answer, s.metrics.connsRefused, s.log)
}
