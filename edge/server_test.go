package edge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/narthex-cache/narthex/analytics"
	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/replication"
	"github.com/valyala/fasthttp"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	hitHash = "ggbqg8lqjwj75wznkv03h0x2bjr2in0j"
	hitBody = "StorePath: /nix/store/ggbqg8lqjwj75wznkv03h0x2bjr2in0j-a\nURL: nar/1py0ql2r3fvf5h8h9xh2fdsxkizwb8p4wgfa848nlfiv612sv3vr.nar.xz\n"
	narURL  = "nar/1py0ql2r3fvf5h8h9xh2fdsxkizwb8p4wgfa848nlfiv612sv3vr.nar.xz"
	// guixURL is how guix publish names a NAR: URI-encoded, so "+" is "%2B".
	guixURL = "nar/gzip/54dfqaxwz23zvax91bpff2q48w2d2w6s-gtk%2B-3.24.30"
	// guixKey is its name in a store, decoded; a redirect escapes it.
	guixKey = "nar/gzip/54dfqaxwz23zvax91bpff2q48w2d2w6s-gtk+-3.24.30"
)

// newEdge serves an edge over a replicator of a fresh origin database
// holding one narinfo and its NAR file in one store, once it is ready.
func newEdge(t testing.TB, cfg Config) (base string, db *pgx.Conn, srv *Server) {
	base, db, srv, _ = newEdgeIn(t, t.TempDir(), cfg)
	return base, db, srv
}

// newEdgeIn is newEdge with the replica in dir; it returns the replicator.
func newEdgeIn(t testing.TB, dir string, cfg Config) (base string, db *pgx.Conn, srv *Server, rep *replication.Replicator) {
	t.Helper()
	url := pgtest.NewOriginDatabase(t)
	db = pgtest.Connect(t, url)
	for _, q := range []string{
		`INSERT INTO store (name, kind, base_url) VALUES ('local', 'local', 'http://origin.test')`,
		`INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ('` + hitHash + `', 'a', 'sha256:x', 1, '` + hitBody + `')`,
		`INSERT INTO nar_file (url, file_hash, file_size, compression) VALUES ('` + narURL + `', 'sha256:x', 1, 'xz')`,
		`INSERT INTO payload_location (url, store_id, key) SELECT '` + narURL + `', id, '` + narURL + `' FROM store`,
		`INSERT INTO nar_file (url, file_hash, file_size, compression) VALUES ('` + guixURL + `', 'sha256:x', 1, 'gzip')`,
		`INSERT INTO payload_location (url, store_id, key) SELECT '` + guixURL + `', id, '` + guixKey + `' FROM store`,
	} {
		if _, err := db.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rep, err := replication.Open(replication.Config{ConnString: url, EdgeName: "t", Dir: dir, StatusInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close() })
	addr, srv := serve(t, cfg, rep)
	base = "http://" + addr
	if code, _, _ := get(t, "GET", base+"/readyz"); code != 503 {
		t.Fatalf("readyz before bootstrap = %d, want 503", code)
	}
	rep.Start(t.Context())
	testutil.Eventually(t, "edge ready", time.Minute, func() bool {
		code, _, _ := get(t, "GET", base+"/readyz")
		return code == 200
	})
	return base, db, srv, rep
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t testing.TB, method, url string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Length") == "" {
		t.Errorf("%s %s: no Content-Length", method, url)
	}
	if resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("%s %s: Content-Encoding %q on a plain body", method, url, resp.Header.Get("Content-Encoding"))
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestServer_Protocol(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { testProtocol(t, engine) })
	}
}

func testProtocol(t *testing.T, engine string) {
	addr, _ := serve(t, Config{HitCacheControl: "max-age=7", MissCacheControl: "max-age=3", Engine: engine}, &source{rep: newReplica(t)})
	base := "http://" + addr
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
		header       map[string]string
	}{
		{"GET", "/nix-cache-info", 200, "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n", map[string]string{"Content-Type": "text/x-nix-cache-info"}},
		{"HEAD", "/nix-cache-info", 200, "", map[string]string{"Content-Length": fmt.Sprint(len("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n"))}},
		{"GET", "/" + hitHash + ".narinfo", 200, hitBody, map[string]string{"Content-Type": "text/x-nix-narinfo", "Cache-Control": "max-age=7"}},
		{"HEAD", "/" + hitHash + ".narinfo", 200, "", map[string]string{"Content-Length": fmt.Sprint(len(hitBody)), "Cache-Control": "max-age=7"}},
		{"GET", "/0000000000000000000000000000000a.narinfo", 404, "not found\n", map[string]string{"Cache-Control": "max-age=3"}},
		{"HEAD", "/0000000000000000000000000000000a.narinfo", 404, "", map[string]string{"Cache-Control": "max-age=3"}},
		{"GET", "/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.narinfo", 404, "not found\n", nil},
		{"GET", "/" + narURL, 302, "found\n", map[string]string{"Location": "http://origin.test/" + narURL}},
		{"GET", "/nar/0000000000000000000000000000000000000000000000000000.nar", 404, "not found\n", nil},
		{"HEAD", "/" + narURL, 200, "", map[string]string{"Location": ""}},
		{"HEAD", "/nar/0000000000000000000000000000000000000000000000000000.nar", 404, "", nil},
		{"GET", "/" + guixURL, 302, "found\n", map[string]string{"Location": "http://origin.test/" + guixURL}},
		{"GET", "/nar/../etc/passwd", 404, "not found\n", nil},
		{"GET", "/nar/%2e%2e/x", 404, "not found\n", nil},
		{"PUT", "/" + hitHash + ".narinfo", 405, "method not allowed: the edge is read-only; upload to the origin\n", map[string]string{"Allow": "GET, HEAD"}},
		{"POST", "/nix-cache-info", 405, "method not allowed: the edge is read-only; upload to the origin\n", nil},
		{"GET", "/nope", 404, "not found\n", nil},
		{"DELETE", "/nope", 404, "not found\n", nil},
		{"GET", "/healthz", 200, "ok\n", nil},
	} {
		code, h, body := get(t, tc.method, base+tc.path)
		if code != tc.code || body != tc.body {
			t.Errorf("%s %s = %d %q, want %d %q", tc.method, tc.path, code, body, tc.code, tc.body)
		}
		for k, v := range tc.header {
			if h.Get(k) != v {
				t.Errorf("%s %s: %s = %q, want %q", tc.method, tc.path, k, h.Get(k), v)
			}
		}
	}
	if _, _, m := get(t, "GET", base+"/metrics"); !strings.Contains(m, `narthex_edge_narinfo_lookups_total{result="hit"} 2`) {
		t.Errorf("metrics do not count the two hits:\n%s", m)
	}
}

func TestServer_SeesNewUploads(t *testing.T) {
	t.Parallel()
	base, db, _ := newEdge(t, Config{})
	hash := "54dfqaxwz23zvax91bpff2q48w2d2w6s"
	if code, _, _ := get(t, "GET", base+"/"+hash+".narinfo"); code != 404 {
		t.Fatalf("narinfo before upload = %d", code)
	}
	if _, err := db.Exec(t.Context(), `INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ($1, 'b', 'sha256:x', 1, 'StorePath: x\n')`, hash); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the committed narinfo", time.Minute, func() bool {
		code, _, _ := get(t, "GET", base+"/"+hash+".narinfo")
		return code == 200
	})
}

// BenchmarkServer_Narinfo measures the lookup path, hit and miss, without
// the network; "counted" with fetch counting on, the client placed by a
// GeoIP database.
func BenchmarkServer_Narinfo(b *testing.B) {
	_, _, srv := newEdge(b, Config{})
	counted, err := New(Config{Analytics: analytics.New(0), GeoIPDB: geoDB(b)}, srv.src)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, path string
		srv        *Server
	}{
		{"hit", "/" + hitHash + ".narinfo", srv},
		{"miss", "/0000000000000000000000000000000a.narinfo", srv},
		{"hit counted", "/" + hitHash + ".narinfo", counted},
		{"miss counted", "/0000000000000000000000000000000a.narinfo", counted},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var ctx fasthttp.RequestCtx
			ctx.Request.SetRequestURI(bc.path)
			ctx.Request.Header.SetMethod("GET")
			ctx.Request.Header.SetUserAgent("curl/7.88.1 Nix/2.8.0")
			ctx.SetRemoteAddr(&net.TCPAddr{IP: net.ParseIP(inEurope), Port: 40000})
			b.ReportAllocs()
			for b.Loop() {
				ctx.Response.Reset()
				bc.srv.Handle(&ctx)
			}
			if code := ctx.Response.StatusCode(); code != 200 && code != 404 {
				b.Fatalf("status %d", code)
			}
		})
	}
}

// Not parallel: it stops the cluster every test shares.
func TestServer_AnswersWhilePostgresIsDown(t *testing.T) {
	base, db, _ := newEdge(t, Config{MaxLag: time.Second})
	url := db.Config().ConnString()
	db.Close(t.Context())
	cluster := pgtest.Cluster(t)
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	// Lookups go on from the replica; readiness reports the staleness.
	testutil.Eventually(t, "readyz to report the stale replica", time.Minute, func() bool {
		code, _, _ := get(t, "GET", base+"/readyz")
		return code == 503
	})
	if code, _, body := get(t, "GET", base+"/"+hitHash+".narinfo"); code != 200 || body != hitBody {
		t.Fatalf("narinfo while PostgreSQL is down = %d %q", code, body)
	}
	if code, _, _ := get(t, "GET", base+"/"+narURL); code != 302 {
		t.Fatalf("NAR redirect while PostgreSQL is down = %d", code)
	}

	if err := cluster.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	later := "54dfqaxwz23zvax91bpff2q48w2d2w6s"
	if _, err := db.Exec(t.Context(), `INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ($1, 'b', 'sha256:x', 1, 'StorePath: x\n')`, later); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the narinfo committed after PostgreSQL returned, and readiness", time.Minute, func() bool {
		code, _, _ := get(t, "GET", base+"/"+later+".narinfo")
		ready, _, _ := get(t, "GET", base+"/readyz")
		return code == 200 && ready == 200
	})
}

// An edge started while PostgreSQL is down serves its replica and says in
// /readyz that it has not caught up since it started, and how old the
// replica is. Not parallel: it stops the cluster every test shares.
func TestServer_ReadyzOfAnEdgeStartedWhileOriginIsDown(t *testing.T) {
	dir := t.TempDir()
	_, db, _, rep := newEdgeIn(t, dir, Config{})
	url := db.Config().ConnString()
	rep.Close()
	db.Close(t.Context())
	if err := pgtest.Cluster(t).Stop(); err != nil {
		t.Fatal(err)
	}
	rep, err := replication.Open(replication.Config{ConnString: url, EdgeName: "t", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	rep.Start(t.Context())
	addr, _ := serve(t, Config{}, rep)
	base := "http://" + addr
	code, _, body := get(t, "GET", base+"/readyz")
	if code != 503 || !strings.Contains(body, "has not caught up with the origin since the edge started") ||
		!strings.Contains(body, "its last applied commit is ") || strings.Contains(body, "2562047h") {
		t.Fatalf("readyz = %d %q", code, body)
	}
	if code, _, body := get(t, "GET", base+"/"+hitHash+".narinfo"); code != 200 || body != hitBody {
		t.Fatalf("narinfo from the replica = %d %q", code, body)
	}
}

func TestNotCaughtUp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		last time.Time
		want string
	}{
		{time.Time{}, "not ready: the replica has not caught up with the origin since the edge started; the time of its last applied commit is unknown\n"},
		{time.Now().Add(-2 * time.Hour), "not ready: the replica has not caught up with the origin since the edge started; its last applied commit is 2h0m0s old\n"},
	} {
		if got := notCaughtUp(tc.last); got != tc.want {
			t.Errorf("notCaughtUp(%v) = %q, want %q", tc.last, got, tc.want)
		}
	}
}

// BenchmarkServer_NarinfoLarge measures lookups in a replica of 100,000
// narinfos of realistic size, keys drawn uniformly.
func BenchmarkServer_NarinfoLarge(b *testing.B) {
	_, db, srv := newEdge(b, Config{})
	const n = 100000
	if _, err := db.Exec(b.Context(), `
		INSERT INTO narinfo (hash, name, nar_hash, nar_size, body)
		SELECT h, 'p', 'sha256:x', 1, repeat('StorePath: /nix/store/' || h || E'-p\n', 12)
		FROM (SELECT translate(substr(md5(i::text) || md5((i+7)::text), 1, 32), 'eotu', '0123') AS h
		      FROM generate_series(1, $1) i) s ON CONFLICT DO NOTHING`, n); err != nil {
		b.Fatal(err)
	}
	rows, err := db.Query(b.Context(), `SELECT hash FROM narinfo`)
	if err != nil {
		b.Fatal(err)
	}
	var hashes []string
	for rows.Next() {
		var h string
		rows.Scan(&h)
		hashes = append(hashes, h)
	}
	testutil.Eventually(b, "the replica to catch up", time.Minute, func() bool {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/" + hashes[len(hashes)-1] + ".narinfo")
		srv.Handle(&ctx)
		return ctx.Response.StatusCode() == 200
	})
	for _, bc := range []struct {
		name string
		key  func(i int) string
	}{
		{"hit", func(i int) string { return hashes[(i*7919)%len(hashes)] }},
		{"miss", func(i int) string { return fmt.Sprintf("%032d", i%1000000) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			paths := make([][]byte, 4096)
			for i := range paths {
				paths[i] = []byte("/" + bc.key(i*31) + ".narinfo")
			}
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod("GET")
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				ctx.Request.SetRequestURIBytes(paths[i%len(paths)])
				ctx.Response.Reset()
				srv.Handle(&ctx)
				i++
			}
		})
	}
}

// An address in use is tried again until it is released, as the listener
// of a killed edge is, a moment after the process is gone.
func TestListen_WaitsForAnAddressInUse(t *testing.T) {
	t.Parallel()
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(500*time.Millisecond, func() { held.Close() })
	ln, err := Listen(t.Context(), held.Addr().String(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Listen = %v, want the address once released", err)
	}
	ln.Close()
}
