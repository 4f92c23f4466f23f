package edge

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/valyala/fasthttp"
)

// serveHTTPS runs an edge with cfg over rep serving HTTPS too, and
// returns the plain and HTTPS addresses and the roots to trust.
func serveHTTPS(t *testing.T, cfg Config) (plain, https string, roots *x509.CertPool) {
	t.Helper()
	c := testutil.SelfSigned(t, "edge.test", time.Hour)
	tcfg, roots := &tls.Config{Certificates: []tls.Certificate{c.TLS}}, c.Roots()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPS = &HTTPS{Listener: ln, TLS: tcfg}
	plain, _ = serve(t, cfg, &source{rep: newReplica(t)})
	return plain, ln.Addr().String(), roots
}

// HTTPS answers as plain HTTP does, on its own listener, whatever engine
// serves plain HTTP; a challenge hook answers only under
// /.well-known/acme-challenge/ on plain HTTP, and the rest stays 404.
func TestServer_HTTPS(t *testing.T) {
	for _, engine := range []string{EngineFastHTTP, EngineEventLoop} {
		t.Run(engine, func(t *testing.T) {
			challenge := func(ctx *fasthttp.RequestCtx) bool {
				if string(ctx.Path()) != "/.well-known/acme-challenge/token" {
					return false
				}
				ctx.SetBodyString("key-authorization")
				return true
			}
			plain, https, roots := serveHTTPS(t, Config{Engine: engine, ACMEChallenge: challenge})
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "edge.test"}}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			for _, tc := range []struct {
				url, body string
				code      int
			}{
				{"https://" + https + "/" + hitHash + ".narinfo", hitBody, 200},
				{"https://" + https + "/0000000000000000000000000000000a.narinfo", "not found\n", 404},
				{"http://" + plain + "/" + hitHash + ".narinfo", hitBody, 200},
				{"http://" + plain + "/.well-known/acme-challenge/token", "key-authorization", 200},
				{"http://" + plain + "/.well-known/acme-challenge/other", "not found\n", 404},
			} {
				resp, err := client.Get(tc.url)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.code || string(b) != tc.body {
					t.Errorf("GET %s = %d %q, want %d %q", tc.url, resp.StatusCode, b, tc.code, tc.body)
				}
			}
		})
	}
}

// A narinfo lookup over a kept-alive HTTPS connection allocates nothing
// per request past crypto/tls: fasthttp and the lookup reuse their
// buffers. crypto/tls itself allocates one small reader per record it
// reads (Conn.readFromUntil's atLeastReader), once in the server and once
// in this test's client: two per round trip, and no more.
func TestServer_HTTPSLookupAllocatesNothing(t *testing.T) {
	if raceDetector {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	_, https, roots := serveHTTPS(t, Config{Engine: EngineEventLoop})
	c, err := tls.Dial("tcp", https, &tls.Config{RootCAs: roots, ServerName: "edge.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	req := []byte("GET /" + hitHash + ".narinfo HTTP/1.1\r\nHost: edge.test\r\n\r\n")
	// The first answer, read whole, tells the length of each.
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	var raw strings.Builder
	resp, err := http.ReadResponse(bufio.NewReader(io.TeeReader(c, &raw)), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != hitBody {
		t.Fatalf("first answer %d %q", resp.StatusCode, b)
	}
	buf := make([]byte, raw.Len())
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		roundTrip() // warm
	}
	if !strings.HasSuffix(string(buf), hitBody) {
		t.Fatalf("answer %q, want the narinfo", buf)
	}
	const tlsRecordReads = 2
	if n := testing.AllocsPerRun(200, roundTrip); n > tlsRecordReads {
		t.Fatalf("%v allocations per HTTPS round trip, want at most crypto/tls's %d", n, tlsRecordReads)
	}
}

// An HTTPS listener that fails ends Serve, plain HTTP included, with its
// error: an edge is not left serving half of what it was told to.
func TestServer_HTTPSFailureEndsServe(t *testing.T) {
	for _, engine := range []string{EngineFastHTTP, EngineEventLoop} {
		t.Run(engine, func(t *testing.T) {
			c := testutil.SelfSigned(t, "edge.test", time.Hour)
			https, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv, err := New(Config{Engine: engine, HTTPS: &HTTPS{Listener: https,
				TLS: &tls.Config{Certificates: []tls.Certificate{c.TLS}}}}, &source{rep: newReplica(t)})
			if err != nil {
				t.Fatal(err)
			}
			plain, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(t.Context(), plain) }()
			testutil.Eventually(t, "plain HTTP answering", time.Minute, func() bool {
				resp, err := http.Get("http://" + plain.Addr().String() + "/nix-cache-info")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == 200
			})
			https.Close()
			select {
			case err := <-served:
				if err == nil {
					t.Error("Serve returned no error after its HTTPS listener failed")
				}
			case <-time.After(time.Minute):
				t.Fatal("Serve goes on after its HTTPS listener failed")
			}
		})
	}
}
