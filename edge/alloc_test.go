package edge

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/narthex-cache/narthex/analytics"
	"github.com/narthex-cache/narthex/replica"
	"github.com/valyala/fasthttp"
)

// The lookup path allocates nothing per request: a narinfo hit (from the
// memory cache and from the store), a miss (settled by the presence filter
// and by the store), and a NAR redirect.
func TestServer_HotPathAllocatesNothing(t *testing.T) {
	if raceDetector {
		t.Skip("allocation counts mean nothing under the race detector, whose sync.Pool drops items on purpose")
	}
	rep := newReplica(t)
	cold, err := replica.Create(t.TempDir(), replica.Options{}) // no memory cache
	if err != nil {
		t.Fatal(err)
	}
	defer cold.Close()
	l := cold.Load(1, nil)
	if err := l.Set("narinfo", map[string][]byte{"hash": []byte(hitHash), "body": []byte(hitBody)}); err != nil {
		t.Fatal(err)
	}
	if err := l.Finish(context.Background(), replica.State{LSN: 1, Slot: "narthex_t_1", System: "1", LastCommit: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// A deleted narinfo stays in the presence filter: its miss is settled
	// by the store.
	const gone = "54dfqaxwz23zvax91bpff2q48w2d2w6s"
	for i, write := range []func(*replica.Txn) error{
		func(tx *replica.Txn) error {
			return tx.Upsert("narinfo", nil, map[string][]byte{"hash": []byte(gone), "body": []byte("x\n")}, nil)
		},
		func(tx *replica.Txn) error { return tx.Delete("narinfo", map[string][]byte{"hash": []byte(gone)}) },
	} {
		tx := cold.Begin()
		if err := write(tx); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(pglogrepl.LSN(2+i), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, method, path string
		rep                *replica.Replica
		code               int
	}{
		{"hit from memory", "GET", "/" + hitHash + ".narinfo", rep, 200},
		{"hit from the store", "GET", "/" + hitHash + ".narinfo", cold, 200},
		{"HEAD hit", "HEAD", "/" + hitHash + ".narinfo", rep, 200},
		{"miss", "GET", "/0000000000000000000000000000000a.narinfo", rep, 404},
		{"miss past the presence filter", "GET", "/" + gone + ".narinfo", cold, 404},
		{"NAR redirect", "GET", "/" + narURL, rep, 302},
		{"NAR miss", "GET", "/nar/0000000000000000000000000000000000000000000000000000.nar", rep, 404},
		{"nix-cache-info", "GET", "/nix-cache-info", rep, 200},
		{"unknown path", "GET", "/favicon.ico", rep, 404},
	} {
		for _, counting := range []bool{false, true} {
			name := tc.name
			cfg := Config{}
			if counting {
				// Counted by country, client family and hour.
				name += ", counted"
				cfg.Analytics, cfg.GeoIPDB = analytics.New(0), geoDB(t)
			}
			t.Run(name, func(t *testing.T) {
				allocFree(t, cfg, tc.rep, tc.method, tc.path, tc.code)
			})
		}
	}
}

// allocFree checks that a server of cfg over rep answers method path with
// code without allocating, through Handle and through the event loops'
// exchange, and that each answer is timed in the request metrics.
func allocFree(t *testing.T, cfg Config, rep *replica.Replica, method, path string, code int) {
	srv, err := New(cfg, &source{rep: rep})
	if err != nil {
		t.Fatal(err)
	}
	var pathCtx fasthttp.RequestCtx
	pathCtx.Request.SetRequestURI(path)
	route, status := routeNames[knownRoute(pathCtx.URI().PathOriginal())], strconv.Itoa(code)
	timed := func() uint64 { return requestCount(t, srv, route, status) }
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	ctx.Request.Header.SetUserAgent("curl/7.88.1 Nix/2.8.0")
	ctx.SetRemoteAddr(&net.TCPAddr{IP: net.ParseIP(inEurope), Port: 40000})
	handle := func() {
		ctx.Response.Reset()
		srv.Handle(&ctx)
	}
	handle() // warm: buffers grow once, the memory cache fills
	if got := ctx.Response.StatusCode(); got != code {
		t.Fatalf("status %d, want %d", got, code)
	}
	before := timed()
	if n := testing.AllocsPerRun(200, handle); n != 0 {
		t.Fatalf("%v allocations per request, want none", n)
	}
	if got := timed() - before; got < 200 {
		t.Fatalf("%d of 200 requests timed as route %s, status %s", got, route, status)
	}
	// The event loops' exchange adds reading the request and
	// writing the answer, and nothing more.
	x := newExchange(srv)
	in := []byte(method + " " + path + " HTTP/1.1\r\nHost: edge\r\n\r\n")
	var out []byte
	exchange := func() {
		out = out[:0]
		if used, closeConn := x.serve(in, &out, false); used != len(in) || closeConn {
			t.Fatalf("serve used %d of %d bytes, close %v", used, len(in), closeConn)
		}
	}
	exchange()
	before = timed()
	if n := testing.AllocsPerRun(200, exchange); n != 0 {
		t.Fatalf("%v allocations per request through the event loop's exchange, want none", n)
	}
	if got := timed() - before; got < 200 {
		t.Fatalf("%d of 200 requests through the exchange timed as route %s, status %s", got, route, status)
	}
}
