package edge

import (
	"strconv"
	"testing"

	"github.com/narthex-cache/narthex/replication"
	"github.com/valyala/fasthttp"
)

// requestCount is how many requests srv timed as route and status.
func requestCount(t testing.TB, srv *Server, route, status string) uint64 {
	t.Helper()
	mfs, err := srv.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "narthex_edge_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["status"] == status {
				return m.GetHistogram().GetSampleCount()
			}
		}
		t.Fatalf("no series of route %s and status %s", route, status)
	}
	t.Fatal("narthex_edge_request_duration_seconds not registered")
	return 0
}

// Each answer is timed under the route that answered it and its status; a
// status the route does not answer with by design counts as "other".
func TestServer_TimesRequestsByRouteAndStatus(t *testing.T) {
	rep := newReplica(t)
	ready := &source{rep: rep}
	notReady := &source{rep: rep, status: func() replication.Status { return replication.Status{} }}
	for _, tc := range []struct {
		name, method, path string
		src                Source
		route, status      string
	}{
		{"narinfo hit", "GET", "/" + hitHash + ".narinfo", ready, "narinfo", "200"},
		{"narinfo miss", "HEAD", "/0000000000000000000000000000000a.narinfo", ready, "narinfo", "404"},
		{"narinfo no replica", "GET", "/" + hitHash + ".narinfo", &source{}, "narinfo", "503"},
		{"narinfo upload", "PUT", "/" + hitHash + ".narinfo", ready, "narinfo", "405"},
		{"NAR redirect", "GET", "/" + narURL, ready, "nar", "302"},
		{"NAR HEAD", "HEAD", "/" + narURL, ready, "nar", "200"},
		{"NAR miss", "GET", "/nar/0000000000000000000000000000000000000000000000000000.nar", ready, "nar", "404"},
		{"nix-cache-info", "GET", "/nix-cache-info", ready, "nix-cache-info", "200"},
		{"healthz", "GET", "/healthz", ready, "healthz", "200"},
		{"readyz", "GET", "/readyz", ready, "readyz", "200"},
		{"readyz not ready", "GET", "/readyz", notReady, "readyz", "503"},
		{"metrics", "GET", "/metrics", ready, "metrics", "200"},
		{"metrics posted", "POST", "/metrics", ready, "metrics", "405"},
		{"unknown path", "GET", "/index.html", ready, "other", "404"},
		{"unknown path posted", "DELETE", "/index.html", ready, "other", "404"},
		{"narinfo of a short hash", "GET", "/abc.narinfo", ready, "other", "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := New(Config{}, tc.src)
			if err != nil {
				t.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(tc.method)
			ctx.Request.SetRequestURI(tc.path)
			srv.Handle(&ctx)
			if got := ctx.Response.StatusCode(); strconv.Itoa(got) != tc.status {
				t.Fatalf("status %d, want %s", got, tc.status)
			}
			if n := requestCount(t, srv, tc.route, tc.status); n != 1 {
				t.Errorf("%d requests timed as route %s, status %s; want 1", n, tc.route, tc.status)
			}
		})
	}
}

// A status outside a route's own is counted as "other" for that route.
func TestRequestMetrics_UnexpectedStatusIsOther(t *testing.T) {
	srv, err := New(Config{}, &source{rep: newReplica(t)})
	if err != nil {
		t.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	ctx.SetStatusCode(fasthttp.StatusInternalServerError)
	srv.metrics.requests.observe(routeMetrics, ctx.Response.StatusCode(), ctx.Time())
	if n := requestCount(t, srv, "metrics", "other"); n != 1 {
		t.Errorf("%d requests timed as route metrics, status other; want 1", n)
	}
	if n := requestCount(t, srv, "metrics", "200"); n != 0 {
		t.Errorf("%d requests timed as route metrics, status 200; want 0", n)
	}
}
