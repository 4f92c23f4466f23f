package origin

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/narthex-cache/narthex/narinfo"
	"github.com/narthex-cache/narthex/placement"
	"github.com/narthex-cache/narthex/stores"
)

// Server is the origin's HTTP service. Its one background task, the sweep
// of the local store, runs within Serve; it needs no Close, and the
// database pool stays the caller's.
type Server struct {
	cfg        Config
	db         *pgxpool.Pool
	payloads   PayloadStore
	leftovers  leftoverStore // the local store again, for the sweep
	storeID    int32
	holder     string       // names this process's reservations of room for uploads
	opened     openedStores // stores other than the local one that uploads landed in
	log        *slog.Logger
	metrics    *metrics
	conns      *clientConns        // open connections by client address, over all listeners
	verifyKeys []narinfo.PublicKey // TrustedKeys and the public halves of SigningKeys
	cacheInfo  []byte              // the nix-cache-info body

	// beforeInsert, when set, runs in the narinfo transaction after the
	// checks and before the inserts, so tests can race a delete with them.
	beforeInsert func(ctx context.Context)
	// beforeRootWrite, when set, runs after the paths of a root were
	// checked and before they are written, so tests can race a delete
	// with them.
	beforeRootWrite func(ctx context.Context)
}

// New validates cfg, opens the local store directory, and registers the
// local store in the store table (or updates its base URL), remembering its
// id. The schema must already be migrated.
func New(ctx context.Context, cfg Config, db *pgxpool.Pool) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	local, err := stores.Open(cfg.LocalStoreDir)
	if err != nil {
		return nil, fmt.Errorf("local store: %w", err)
	}
	baseURL := strings.TrimRight(cfg.PublicURL, "/")
	id, err := registerLocalStore(ctx, db, cfg.LocalStoreName, baseURL)
	if err != nil {
		return nil, err
	}
	s := &Server{
		conns:     newClientConns(),
		cfg:       cfg,
		db:        db,
		payloads:  local,
		leftovers: local,
		storeID:   id,
		holder:    placement.NewHolder("origin"),
		log:       cfg.Logger.With("component", "origin"),
		metrics:   newMetrics(),
		cacheInfo: fmt.Appendf(nil, "StoreDir: %s\nWantMassQuery: 1\nPriority: %d\n",
			cfg.StoreDir, cfg.Priority),
	}
	s.metrics.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "narthex_origin_narinfos_withdrawn",
		Help: "Narinfos out of service because a NAR file they list has no good copy clients can download (NaN when the database cannot be read).",
	}, s.countWithdrawn), newDBCollector(db, s.log))
	for _, c := range cfg.Collectors {
		if err := s.metrics.registry.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	s.verifyKeys = append(s.verifyKeys, cfg.TrustedKeys...)
	for _, k := range cfg.SigningKeys {
		s.verifyKeys = append(s.verifyKeys, k.Public())
	}
	if len(cfg.SigningKeys) == 0 {
		s.log.Warn("no signing keys: the origin signs nothing; narinfos are stored and served with only the signatures they were uploaded with")
	}
	s.log.Info("origin ready", "store", cfg.LocalStoreName, "store_id", id,
		"store_dir", local.Dir(), "public_url", baseURL)
	return s, nil
}

// countWithdrawn is the number of withdrawn narinfos, read when metrics are
// scraped.
func (s *Server) countWithdrawn() float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n int64
	if err := s.db.QueryRow(ctx, qCountWithdrawn).Scan(&n); err != nil {
		return math.NaN()
	}
	return float64(n)
}

// Handler returns the origin's HTTP handler.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ACMEChallenge != nil && s.cfg.ACMEChallenge(w, r) {
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, body: s.limitBody(w, r)}
	rt, err := parseRoute(r.URL.EscapedPath(), r.URL.Path)
	if err == nil {
		err = s.dispatch(sw, r, rt)
	}
	if err != nil {
		s.writeError(sw, r, err)
	}
	// Uploads are counted by kind; a path no route knows counts as "other".
	if r.Method == http.MethodPut && rt.kind != routeHealth && rt.kind != routeMetrics && rt.kind != routeDashboard &&
		rt.kind != routeRoots {
		s.metrics.countUpload(rt.kind, sw.status)
	}
	s.metrics.observeRequest(rt.kind, r.Method, sw.status, start)
}

// dispatch checks the method and, for uploads and roots, the credentials,
// and runs the route's handler.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, rt route) error {
	if !rt.kind.allows(r.Method) {
		return clientError(http.StatusMethodNotAllowed, "method %s not allowed", r.Method).
			withHeader("Allow", rt.kind.allow())
	}
	// Roots need the token for reading too: they tell what collection
	// keeps, and their names are the operators' own.
	if r.Method == http.MethodPut || rt.kind == routeRoots {
		if err := s.authenticate(r); err != nil {
			return err
		}
	}
	if r.Method == http.MethodPut {
		if enc := r.Header.Get("Content-Encoding"); enc != "" && enc != "identity" {
			return badRequest("narthex does not accept Content-Encoding %q on uploads; "+
				"leave narinfo-compression and ls-compression unset", enc)
		}
	}
	put := r.Method == http.MethodPut
	switch rt.kind {
	case routeCacheInfo:
		if put {
			return s.putCacheInfo(w, r)
		}
		writeBody(w, http.StatusOK, "text/x-nix-cache-info", s.cacheInfo)
		return nil
	case routeNarinfo:
		if put {
			return s.putNarinfo(w, r, rt.name)
		}
		return s.getNarinfo(w, r, rt.name)
	case routeNar:
		if put {
			return s.putNar(w, r, rt.name)
		}
		return s.getNar(w, r, rt.name)
	case routeListing, routeLog, routeRealisation, routeDebugInfo:
		if put {
			return badRequest("%s", notStored(rt.kind))
		}
		return clientError(http.StatusNotFound, "not found")
	case routeHealth:
		writeBody(w, http.StatusOK, "text/plain; charset=utf-8", []byte("ok\n"))
		return nil
	case routeMetrics:
		return s.serveMetrics(w, r)
	case routeRoots:
		return s.serveRoots(w, r, rt.name)
	case routeDashboard:
		if s.cfg.Dashboard == nil {
			return clientError(http.StatusNotFound, "not found")
		}
		s.cfg.Dashboard.ServeHTTP(w, r)
		return nil
	}
	return clientError(http.StatusNotFound, "not found")
}

// notStored is the reason an upload of a file narthex does not keep is
// refused.
func notStored(k routeKind) string {
	switch k {
	case routeListing:
		return "narthex does not store NAR listings; set write-nar-listing = false"
	case routeLog:
		return "narthex does not store build logs"
	case routeRealisation:
		return "narthex does not store realisations of content-addressed derivations"
	case routeDebugInfo:
		return "narthex does not store debug info; set index-debug-info = false"
	}
	return "narthex does not store this kind of file"
}
