package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/dashboard"
)

// dashboardFlags are where "narthex origin" serves its dashboard: on an
// address of its own without credentials, and on the public listener to
// those who carry the token.
type dashboardFlags struct {
	adminListen, tokenFile *string
}

func defineDashboardFlags(f *flags) *dashboardFlags {
	return &dashboardFlags{
		adminListen: f.String("admin-listen", "", "address to serve the dashboard (/dashboard) and its JSON (/api/stats/) on to anyone who\nreaches it, for operators only; off when empty"),
		tokenFile:   f.String("dashboard-token-file", "", "file holding a token that opens the dashboard on the public listener too (as a Bearer\ntoken, or the password of HTTP Basic authentication); without it the public listener\nanswers 404 there"),
	}
}

// adminServer serves the dashboard on an admin address.
type adminServer struct {
	ln  net.Listener
	srv *http.Server
}

// setUp returns the handler the public listener serves the dashboard with
// (nil when it is off there) and the admin server, when asked for; the
// admin address is listened on now, so that a busy one fails the start.
func (d *dashboardFlags) setUp(db *pgxpool.Pool, log *slog.Logger) (http.Handler, *adminServer, error) {
	var public http.Handler
	if *d.tokenFile != "" {
		token, err := readSecret("dashboard-token-file", *d.tokenFile)
		if err != nil {
			return nil, nil, err
		}
		if len(token) < 16 {
			return nil, nil, fmt.Errorf("--dashboard-token-file %s: the token must be at least 16 characters", *d.tokenFile)
		}
		h, err := dashboard.New(dashboard.Config{DB: db, Token: token, Logger: log})
		if err != nil {
			return nil, nil, err
		}
		public = h
	}
	if *d.adminListen == "" {
		if public == nil {
			log.Info("dashboard off: --admin-listen or --dashboard-token-file serves it")
		}
		return public, nil, nil
	}
	h, err := dashboard.New(dashboard.Config{DB: db, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", *d.adminListen)
	if err != nil {
		return nil, nil, fmt.Errorf("--admin-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/":
			http.Redirect(w, r, "/dashboard", http.StatusFound)
		case dashboard.Serves(r.URL.Path):
			h.ServeHTTP(w, r)
		default:
			http.Error(w, "not found: the admin address serves /dashboard and /api/stats/", http.StatusNotFound)
		}
	})
	log.Info("dashboard listening", "addr", ln.Addr().String())
	return public, &adminServer{ln: ln, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}}, nil
}

// serve serves until ctx ends.
func (a *adminServer) serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.srv.Shutdown(shut)
	}()
	if err := a.srv.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin listener: %w", err)
	}
	return nil
}
