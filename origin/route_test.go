package origin

import (
	"net/http"
	"testing"
)

func TestServer_Routes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	hash := storeHash("x")
	auth := "Authorization: Bearer " + h.token + "\r\n"
	tests := []struct {
		name   string
		method string
		path   string // sent as it is
		auth   bool
		status int
		want   string // in the body
		allow  string // the Allow header
	}{
		{name: "dot-dot", method: "GET", path: "/nar/../x", status: 400, want: "invalid request path"},
		{name: "dot-dot upload", method: "PUT", path: "/nar/../x", auth: true, status: 400, want: "invalid request path"},
		{name: "escaped dot-dot", method: "GET", path: "/nar/%2e%2e/x", status: 400, want: "invalid request path"},
		{name: "escaped dot-dot at the root", method: "GET", path: "/%2e%2e/etc/passwd", status: 400, want: "invalid request path"},
		{name: "escaped slash", method: "GET", path: "/nar%2fx", status: 400, want: "invalid request path"},
		{name: "empty element", method: "GET", path: "//nix-cache-info", status: 400, want: "invalid request path"},
		{name: "empty element in nar", method: "PUT", path: "/nar//x", auth: true, status: 400, want: "invalid request path"},
		{name: "root", method: "GET", path: "/", status: 404, want: "not found"},
		{name: "unknown", method: "GET", path: "/etc/passwd", status: 404, want: "not found"},
		{name: "unknown upload", method: "PUT", path: "/something", auth: true, status: 404, want: "not found"},
		{name: "nar directory", method: "GET", path: "/nar/", status: 404, want: "not found"},
		{name: "absent narinfo", method: "GET", path: "/" + hash + ".narinfo", status: 404, want: "not found"},
		{name: "absent narinfo HEAD", method: "HEAD", path: "/" + hash + ".narinfo", status: 404},
		{name: "invalid narinfo hash", method: "GET", path: "/abc.narinfo", status: 404, want: "not found"},
		{name: "absent NAR", method: "GET", path: "/" + newNar("x", ".xz").url, status: 404, want: "not found"},
		{name: "invalid NAR name", method: "GET", path: "/nar/x", status: 404, want: "not found"},
		{name: "listing", method: "GET", path: "/" + hash + ".ls", status: 404, want: "not found"},
		{name: "listing upload", method: "PUT", path: "/" + hash + ".ls", auth: true, status: 400, want: "write-nar-listing = false"},
		{name: "log upload", method: "PUT", path: "/log/" + hash + "-x.drv", auth: true, status: 400, want: "build logs"},
		{name: "log", method: "GET", path: "/log/" + hash + "-x.drv", status: 404, want: "not found"},
		{name: "realisation upload", method: "PUT", path: "/realisations/sha256:abc!out.doi", auth: true, status: 400, want: "realisations"},
		{name: "debuginfo upload", method: "PUT", path: "/debuginfo/0123abcd", auth: true, status: 400, want: "index-debug-info = false"},
		{name: "debuginfo", method: "HEAD", path: "/debuginfo/0123abcd", status: 404},
		{name: "unauthenticated listing upload", method: "PUT", path: "/" + hash + ".ls", status: 401, want: "token required"},
		{name: "DELETE nix-cache-info", method: "DELETE", path: "/nix-cache-info", auth: true, status: 405, want: "DELETE", allow: "GET, HEAD, PUT"},
		{name: "POST narinfo", method: "POST", path: "/" + hash + ".narinfo", auth: true, status: 405, allow: "GET, HEAD, PUT"},
		{name: "DELETE NAR", method: "DELETE", path: "/" + newNar("x", ".xz").url, status: 405, allow: "GET, HEAD, PUT"},
		{name: "PUT healthz", method: "PUT", path: "/healthz", auth: true, status: 405, allow: "GET, HEAD"},
		{name: "POST metrics", method: "POST", path: "/metrics", status: 405, allow: "GET, HEAD"},
		{name: "healthz", method: "GET", path: "/healthz", status: 200, want: "ok\n"},
		{name: "nix-cache-info HEAD", method: "HEAD", path: "/nix-cache-info", status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h.in(t)
			before := h.snapshot()
			req := tt.method + " " + tt.path + " HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n"
			if tt.auth {
				req += auth
			}
			if tt.method == "PUT" || tt.method == "POST" {
				req += "Content-Length: 3\r\n\r\nabc"
			} else {
				req += "\r\n"
			}
			r := h.raw(req)
			switch {
			case tt.status >= 400 && tt.method != "HEAD":
				checkError(t, r, tt.status, tt.want)
			case r.status != tt.status || r.body != tt.want && tt.method != "HEAD":
				t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, r.status, r.body, tt.status, tt.want)
			}
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
			if tt.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") != `Basic realm="narthex"` {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
			h.unchanged(before)
		})
	}
}

func TestParseRoute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		escaped, decoded string
		want             route
		status           int
	}{
		{"/nix-cache-info", "/nix-cache-info", route{kind: routeCacheInfo}, 0},
		{"/abc.narinfo", "/abc.narinfo", route{kind: routeNarinfo, name: "abc"}, 0},
		{"/nar/x.nar.xz", "/nar/x.nar.xz", route{kind: routeNar, name: "nar/x.nar.xz"}, 0},
		{"/abc.ls", "/abc.ls", route{kind: routeListing, name: "abc"}, 0},
		{"/log/x", "/log/x", route{kind: routeLog, name: "log/x"}, 0},
		{"/realisations/x.doi", "/realisations/x.doi", route{kind: routeRealisation, name: "realisations/x.doi"}, 0},
		{"/debuginfo/x", "/debuginfo/x", route{kind: routeDebugInfo, name: "debuginfo/x"}, 0},
		{"/healthz", "/healthz", route{kind: routeHealth}, 0},
		{"/metrics", "/metrics", route{kind: routeMetrics}, 0},
		{"/a/b.narinfo", "/a/b.narinfo", route{}, 404},
		{"/nar", "/nar", route{}, 404},
		{"", "", route{}, 400},
		{"/nar/a%20b", "/nar/a b", route{}, 400},
		{"/nar/gzip/x-gtk%2B-3%3Fa%3Db", "/nar/gzip/x-gtk+-3?a=b", route{kind: routeNar, name: "nar/gzip/x-gtk%2B-3%3Fa%3Db"}, 0},
		{"/nar/gzip/x%252B", "/nar/gzip/x%2B", route{}, 400},
		{"/nar/gzip/x%2b", "/nar/gzip/x+", route{}, 400},
		{"/nar/%2B%2e%2e/x", "/nar/+../x", route{}, 400},
		{"/nar/x", "/nar/../x", route{}, 400},
		{"/nar/..x", "/nar/..x", route{}, 400},
		{"/nar\\x", "/nar\\x", route{}, 400},
	}
	for _, tt := range tests {
		got, err := parseRoute(tt.escaped, tt.decoded)
		status := 0
		if he, ok := err.(*httpError); ok {
			status = he.status
		} else if err != nil {
			t.Fatalf("parseRoute(%q) = %v", tt.escaped, err)
		}
		if got != tt.want || status != tt.status {
			t.Errorf("parseRoute(%q, %q) = %+v, %d; want %+v, %d", tt.escaped, tt.decoded, got, status, tt.want, tt.status)
		}
	}
}
