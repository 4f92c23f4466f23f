package origin

import (
	"net/http"
	"strings"

	"github.com/narthex-cache/narthex/dashboard"
)

// routeKind is what a request path names.
type routeKind int

const (
	routeUnknown     routeKind = iota // no route
	routeCacheInfo                    // /nix-cache-info
	routeNarinfo                      // /<hash>.narinfo
	routeNar                          // /nar/<file>
	routeListing                      // /<hash>.ls
	routeLog                          // /log/<drv>
	routeRealisation                  // /realisations/<id>.doi
	routeDebugInfo                    // /debuginfo/<build id>
	routeHealth                       // /healthz
	routeMetrics                      // /metrics
	routeDashboard                    // /dashboard, /api/stats/...
	routeRoots                        // /api/roots, /api/roots/<name>
)

// route is a parsed request path.
type route struct {
	kind routeKind
	// name is the store path hash for narinfo and listing routes and the
	// path relative to the cache root ("nar/<file>") for NAR routes, and
	// the root's name for roots routes ("" for all of them). It is not
	// validated yet.
	name string
}

// uploadKind names the kind of a route in metrics.
func (k routeKind) uploadKind() string {
	switch k {
	case routeCacheInfo:
		return "nix-cache-info"
	case routeNarinfo:
		return "narinfo"
	case routeNar:
		return "nar"
	case routeListing:
		return "listing"
	case routeLog:
		return "log"
	case routeRealisation:
		return "realisation"
	case routeDebugInfo:
		return "debuginfo"
	}
	return "other"
}

// name names a route in the request metrics.
func (k routeKind) name() string {
	switch k {
	case routeHealth:
		return "healthz"
	case routeMetrics:
		return "metrics"
	case routeDashboard:
		return "dashboard"
	case routeRoots:
		return "roots"
	}
	return k.uploadKind()
}

// allow is the Allow header of a route: the methods it answers.
func (k routeKind) allow() string {
	switch k {
	case routeHealth, routeMetrics, routeDashboard:
		return "GET, HEAD"
	case routeRoots:
		return "GET, HEAD, PUT, DELETE"
	}
	return "GET, HEAD, PUT"
}

// allows reports whether the route answers method.
func (k routeKind) allows(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead:
		return true
	case http.MethodPut:
		return k != routeHealth && k != routeMetrics && k != routeDashboard
	case http.MethodDelete:
		return k == routeRoots
	}
	return false
}

// directories are the routes that name files below a directory.
var directories = []struct {
	prefix string
	kind   routeKind
}{
	{"nar/", routeNar},
	{"log/", routeLog},
	{"realisations/", routeRealisation},
	{"debuginfo/", routeDebugInfo},
}

// guixEscapes are the percent-escapes a path may carry: those of the
// characters of store path names that Guix escapes in its NAR file names
// (narinfo.EscapeKey), which decode to nothing a path could misuse.
var guixEscapes = strings.NewReplacer("%2B", "", "%3D", "", "%3F", "")

// parseRoute maps the escaped request path to a route. Paths that could
// mean something else once decoded or normalized (percent-escapes other
// than guixEscapes, "..", empty elements) are refused with 400; paths no
// route knows get 404.
func parseRoute(escaped, decoded string) (route, error) {
	for _, p := range []string{guixEscapes.Replace(escaped), decoded} {
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "%") || strings.Contains(p, "..") ||
			strings.Contains(p, "//") || strings.ContainsAny(p, "\\\x00") {
			return route{}, badRequest("invalid request path")
		}
	}
	p := escaped[1:]
	switch p {
	case "nix-cache-info":
		return route{kind: routeCacheInfo}, nil
	case "healthz":
		return route{kind: routeHealth}, nil
	case "metrics":
		return route{kind: routeMetrics}, nil
	}
	if dashboard.Serves(escaped) {
		return route{kind: routeDashboard}, nil
	}
	if p == "api/roots" {
		return route{kind: routeRoots}, nil
	}
	if name, ok := strings.CutPrefix(p, "api/roots/"); ok && name != "" && !strings.Contains(name, "/") {
		return route{kind: routeRoots, name: name}, nil
	}
	for _, d := range directories {
		if strings.HasPrefix(p, d.prefix) && len(p) > len(d.prefix) {
			return route{kind: d.kind, name: p}, nil
		}
	}
	if !strings.Contains(p, "/") {
		if hash, ok := strings.CutSuffix(p, ".narinfo"); ok {
			return route{kind: routeNarinfo, name: hash}, nil
		}
		if hash, ok := strings.CutSuffix(p, ".ls"); ok {
			return route{kind: routeListing, name: hash}, nil
		}
	}
	return route{}, clientError(http.StatusNotFound, "not found")
}
