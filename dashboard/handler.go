package dashboard

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	nsql "github.com/narthex-cache/narthex/sql"
)

// Config configures a Handler.
type Config struct {
	// DB is the origin database. Required.
	DB DB
	// Token, when not empty, is the secret every request must carry, as
	// "Authorization: Bearer <token>" or as the password of HTTP Basic
	// authentication (any user name), so that a browser asks for it. Empty
	// serves everyone: for an address only operators reach.
	Token string
	// QueryTimeout bounds the statistics of one request. Default
	// DefaultQueryTimeout.
	QueryTimeout time.Duration
	// Now is the clock the windows end on. Default time.Now.
	Now func() time.Time
	// Logger receives the errors the database returns. Default
	// slog.Default().
	Logger *slog.Logger
}

// DefaultQueryTimeout is how long one request's statistics may take: each
// query reads an index or a few thousand rows, so anything longer is a
// database in trouble, better reported than waited for.
const DefaultQueryTimeout = 10 * time.Second

// DefaultWindow is the window, in days, shown unless asked otherwise.
const DefaultWindow = 30

// MaxTop is the longest top list a request may ask for.
const MaxTop = 1000

// Handler serves the dashboard at /dashboard and its JSON at /api/stats/.
type Handler struct {
	cfg Config
	log *slog.Logger
}

// New returns the dashboard's handler.
func New(cfg Config) (*Handler, error) {
	if cfg.DB == nil {
		return nil, errors.New("dashboard: DB is required")
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg, log: cfg.Logger.With("component", "dashboard")}, nil
}

// Serves reports whether path is one the handler answers: /dashboard and
// everything below /api/stats/.
func Serves(path string) bool {
	return path == "/dashboard" || path == "/dashboard/" || strings.HasPrefix(path, "/api/stats/")
}

// requestError is a request the handler refuses, with its status and the
// one-line reason the client is told.
type requestError struct {
	status int
	reason string
}

func (e *requestError) Error() string { return e.reason }

func badRequest(format string, args ...any) error {
	return &requestError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// ServeHTTP answers the dashboard page and the JSON API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	api := strings.HasPrefix(r.URL.Path, "/api/")
	err := h.serve(w, r, api)
	if err == nil {
		return
	}
	var re *requestError
	if !errors.As(err, &re) {
		h.log.Warn("statistics unavailable", "path", r.URL.Path, "err", err)
		re = &requestError{http.StatusServiceUnavailable, "statistics unavailable: the origin database did not answer"}
	}
	if re.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="narthex dashboard", charset="UTF-8"`)
	}
	if api {
		// One line: {"error":"<reason>"}.
		b, _ := json.Marshal(map[string]string{"error": re.reason})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(re.status)
		w.Write(append(b, '\n'))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(re.status)
	fmt.Fprintln(w, re.reason)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, api bool) error {
	if !h.authorized(r) {
		return &requestError{http.StatusUnauthorized, "a dashboard token is required"}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return &requestError{http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed", r.Method)}
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.QueryTimeout)
	defer cancel()
	if !api {
		if r.URL.Path != "/dashboard" && r.URL.Path != "/dashboard/" {
			return &requestError{http.StatusNotFound, "not found"}
		}
		p, err := parseParams(r.URL.Query(), "days")
		if err != nil {
			return err
		}
		return h.servePage(ctx, w, p)
	}
	ep, ok := endpoints[strings.TrimPrefix(r.URL.Path, "/api/stats/")]
	if !ok {
		return &requestError{http.StatusNotFound, "no such statistics: see /api/stats/overview, edges, countries, clients, stores, paths/top, paths/missing, paths/unfetched, gc"}
	}
	p, err := parseParams(r.URL.Query(), ep.params...)
	if err != nil {
		return err
	}
	v, err := ep.get(ctx, h, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// authorized reports whether r carries the token, when there is one.
func (h *Handler) authorized(r *http.Request) bool {
	if h.cfg.Token == "" {
		return true
	}
	var got string
	if _, pass, ok := r.BasicAuth(); ok {
		got = pass
	} else if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		got = auth
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(h.cfg.Token)) == 1
}

// params are a request's query parameters, checked.
type params struct {
	days  int
	limit int
	edge  string
}

// parseParams reads the parameters in allowed from q, refusing any other
// and any bad value.
func parseParams(q url.Values, allowed ...string) (params, error) {
	p := params{days: DefaultWindow, limit: DefaultTop}
	for name, values := range q {
		if !slices.Contains(allowed, name) {
			if len(allowed) == 0 {
				return p, badRequest("unknown parameter %q: this takes none", name)
			}
			return p, badRequest("unknown parameter %q: this takes %s", name, strings.Join(allowed, ", "))
		}
		if len(values) != 1 {
			return p, badRequest("parameter %q given %d times", name, len(values))
		}
		v := values[0]
		switch name {
		case "days":
			n, err := strconv.Atoi(v)
			if err != nil || !ValidWindow(n) {
				return p, badRequest("days %q must be one of %s", v, windowList())
			}
			p.days = n
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxTop {
				return p, badRequest("limit %q must be a number from 1 to %d", v, MaxTop)
			}
			p.limit = n
		case "edge":
			if !nsql.ValidEdgeName.MatchString(v) {
				return p, badRequest("edge %q is not an edge name (1 to 40 of a-z, 0-9 and _)", v)
			}
			p.edge = v
		}
	}
	return p, nil
}

func windowList() string {
	s := make([]string, len(Windows))
	for i, d := range Windows {
		s[i] = strconv.Itoa(d)
	}
	return strings.Join(s, ", ")
}

// endpoint is one statistic of the JSON API.
type endpoint struct {
	params []string
	get    func(ctx context.Context, h *Handler, p params) (any, error)
}

// window is the window of p's days, ending today.
func (h *Handler) window(p params) Window { return LastDays(h.cfg.Now(), p.days) }

// The JSON API: /api/stats/<name>. Each answers one object.
var endpoints = map[string]endpoint{
	"overview": {[]string{"days", "edge"}, func(ctx context.Context, h *Handler, p params) (any, error) {
		days, err := Overview(ctx, h.cfg.DB, h.window(p), p.edge)
		return map[string]any{"window_days": p.days, "edge": p.edge, "total": total(days), "days": days}, err
	}},
	"edges": {[]string{"days"}, func(ctx context.Context, h *Handler, p params) (any, error) {
		edges, err := Edges(ctx, h.cfg.DB, h.window(p))
		return map[string]any{"window_days": p.days, "edges": edges}, err
	}},
	"countries": {[]string{"days"}, func(ctx context.Context, h *Handler, p params) (any, error) {
		c, err := Countries(ctx, h.cfg.DB, h.window(p))
		return map[string]any{"window_days": p.days, "countries": c}, err
	}},
	"clients": {[]string{"days"}, func(ctx context.Context, h *Handler, p params) (any, error) {
		c, err := Clients(ctx, h.cfg.DB, h.window(p))
		return map[string]any{"window_days": p.days, "clients": c}, err
	}},
	"stores": {nil, func(ctx context.Context, h *Handler, p params) (any, error) {
		return Stores(ctx, h.cfg.DB)
	}},
	"paths/top": {[]string{"days", "limit"}, func(ctx context.Context, h *Handler, p params) (any, error) {
		return h.top(ctx, KindHit, p)
	}},
	"paths/missing": {[]string{"days", "limit"}, func(ctx context.Context, h *Handler, p params) (any, error) {
		return h.top(ctx, KindMiss, p)
	}},
	"paths/unfetched": {[]string{"limit"}, func(ctx context.Context, h *Handler, p params) (any, error) {
		return NeverFetched(ctx, h.cfg.DB, p.limit)
	}},
	"gc": {[]string{"limit"}, func(ctx context.Context, h *Handler, p params) (any, error) {
		return GarbageCollections(ctx, h.cfg.DB, p.limit)
	}},
}

func (h *Handler) top(ctx context.Context, kind Kind, p params) (any, error) {
	keys, err := Top(ctx, h.cfg.DB, kind, p.days, p.limit)
	if err != nil {
		return nil, err
	}
	through, err := WindowsThrough(ctx, h.cfg.DB)
	return map[string]any{"window_days": p.days, "through": through.Format(time.DateOnly), "paths": keys}, err
}

// total sums the traffic of days.
func total(days []Day) Day {
	var t Traffic
	for _, d := range days {
		t.Add(d.Traffic)
	}
	return newDay("", t)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
