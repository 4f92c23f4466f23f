package edge

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/testutil"
)

// engines are the HTTP engines the socket tests run against: those this
// platform has.
var engines = func() []string {
	if runtime.GOOS == "linux" {
		return []string{EngineFastHTTP, EngineEventLoop, EngineURing}
	}
	return []string{EngineFastHTTP}
}()

// forEachLoop runs test against each event-loop engine, in parallel.
func forEachLoop(t *testing.T, test func(t *testing.T, engine string)) {
	t.Helper()
	if !eventLoopSupported {
		t.Skip("the event loop engines need Linux")
	}
	t.Parallel()
	for _, engine := range []string{EngineEventLoop, EngineURing} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			test(t, engine)
		})
	}
}

// closed reports whether the server closed c: a read sees EOF or a reset
// before the deadline.
func closed(c net.Conn, within time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func TestEventLoop_Requests(t *testing.T) {
	forEachLoop(t, func(t *testing.T, engine string) {
		addr, _ := serve(t, Config{Engine: engine}, &source{rep: newReplica(t)})
		hit := "/" + hitHash + ".narinfo"

		t.Run("HTTP/1.0 closes", func(t *testing.T) {
			c := dial(t, addr)
			c.write("GET " + hit + " HTTP/1.0\r\n\r\n")
			resp, body := c.read("GET")
			if resp.StatusCode != 200 || body != hitBody || !resp.Close {
				t.Errorf("HTTP/1.0 = %d %q, close %v; want 200, the narinfo, close", resp.StatusCode, body, resp.Close)
			}
			if !closed(c.c, 10*time.Second) {
				t.Error("connection still open after an HTTP/1.0 answer")
			}
		})
		t.Run("HTTP/1.0 keep-alive", func(t *testing.T) {
			c := dial(t, addr)
			for range 2 {
				c.write("GET " + hit + " HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
				resp, body := c.read("GET")
				if resp.StatusCode != 200 || body != hitBody || resp.Header.Get("Connection") != "keep-alive" {
					t.Errorf("HTTP/1.0 keep-alive = %d %q, Connection %q", resp.StatusCode, body, resp.Header.Get("Connection"))
				}
			}
		})
		t.Run("Connection: close", func(t *testing.T) {
			c := dial(t, addr)
			// The second request is never answered.
			c.write("GET " + hit + " HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n" + request("GET", hit))
			resp, body := c.read("GET")
			if resp.StatusCode != 200 || body != hitBody || !resp.Close {
				t.Errorf("answer = %d %q, close %v", resp.StatusCode, body, resp.Close)
			}
			if !closed(c.c, 10*time.Second) {
				t.Error("connection still open after Connection: close")
			}
		})
		for _, tc := range []struct {
			name, req string
			code      int
			close     bool
			header    map[string]string
		}{
			{"body on GET", "GET " + hit + " HTTP/1.1\r\nHost: e\r\nContent-Length: 3\r\n\r\nabc", 400, true, nil},
			{"chunked GET", "GET " + hit + " HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, true, nil},
			{"PUT with a body", "PUT " + hit + " HTTP/1.1\r\nHost: e\r\nContent-Length: 3\r\n\r\nabc", 405, false, map[string]string{"Allow": "GET, HEAD"}},
			{"chunked PUT", "PUT " + hit + " HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 405, true, nil},
			{"oversize body", "PUT " + hit + " HTTP/1.1\r\nHost: e\r\nContent-Length: 5000\r\n\r\n", 413, true, nil},
			{"malformed", "GET\r\n\r\n", 400, true, nil},
			{"oversize request line", "GET /" + strings.Repeat("a", 5000) + " HTTP/1.1\r\n\r\n", 431, true, nil},
			{"empty lines before a request", "\r\n\r\n" + request("GET", hit), 200, false, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := dial(t, addr)
				c.write(tc.req)
				method, _, _ := strings.Cut(strings.TrimLeft(tc.req, "\r\n"), " ")
				resp, _ := c.read(method)
				if resp.StatusCode != tc.code || resp.Close != tc.close {
					t.Errorf("%q = %d, close %v; want %d, close %v", tc.req, resp.StatusCode, resp.Close, tc.code, tc.close)
				}
				for k, v := range tc.header {
					if got := resp.Header.Get(k); got != v {
						t.Errorf("%s = %q, want %q", k, got, v)
					}
				}
				if !tc.close { // the connection still answers
					c.write(request("GET", hit))
					if resp, body := c.read("GET"); resp.StatusCode != 200 || body != hitBody {
						t.Errorf("next answer = %d %q", resp.StatusCode, body)
					}
				}
			})
		}
		t.Run("metrics", func(t *testing.T) {
			code, _, body := get(t, "GET", "http://"+addr+"/metrics")
			if code != 200 || !strings.Contains(body, "narthex_edge_narinfo_lookups_total") {
				t.Errorf("/metrics = %d %q", code, body)
			}
		})
		t.Run("many pipelined", func(t *testing.T) {
			// More answers than a connection may have waiting: the rest are
			// answered as the client reads.
			c := dial(t, addr)
			const n = 2000
			go io.WriteString(c.c, strings.Repeat(request("GET", hit), n))
			for i := range n {
				if resp, body := c.read("GET"); resp.StatusCode != 200 || body != hitBody {
					t.Fatalf("answer %d = %d %q", i, resp.StatusCode, body)
				}
			}
		})
	})
}

// The event loops answer with the very bytes of the fasthttp engine.
func TestEventLoop_SameBytesAsFastHTTP(t *testing.T) {
	forEachLoop(t, func(t *testing.T, engine string) {
		src := &source{rep: newReplica(t)}
		fast, _ := serve(t, Config{}, src)
		ev, _ := serve(t, Config{Engine: engine}, src)
		hit := "/" + hitHash + ".narinfo"
		for _, req := range []string{
			request("GET", hit), request("HEAD", hit), request("GET", "/0000000000000000000000000000000a.narinfo"),
			request("GET", "/"+narURL), request("HEAD", "/"+narURL), request("GET", "/nix-cache-info"),
			request("PUT", hit), request("GET", "/healthz"), request("GET", "/nope"),
			"GET " + hit + " HTTP/1.0\r\n\r\n", "GET " + hit + " HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			"GET " + hit + " HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n",
		} {
			raw := func(addr string) []byte {
				c := dial(t, addr)
				c.write(req + "GET /healthz HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n")
				b, err := io.ReadAll(c.c)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			if a, b := raw(fast), raw(ev); !bytes.Equal(a, b) {
				t.Errorf("%q:\nfasthttp: %q\n%s: %q", req, a, engine, b)
			}
		}
	})
}

// A client that sends its request a byte at a time, forever, is cut off
// after ReadTimeout, while the others are answered; an idle one after
// IdleTimeout.
func TestEventLoop_Slowloris(t *testing.T) {
	forEachLoop(t, func(t *testing.T, engine string) {
		addr, _ := serve(t, Config{Engine: engine, ReadTimeout: 500 * time.Millisecond, IdleTimeout: time.Second}, &source{rep: newReplica(t)})
		slow := dial(t, addr)
		start := time.Now()
		cut := make(chan time.Duration, 1)
		go func() {
			defer close(cut)
			for _, b := range []byte("GET /" + strings.Repeat("a", 1000)) {
				if _, err := slow.c.Write([]byte{b}); err != nil {
					cut <- time.Since(start)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		c := dial(t, addr)
		for range 3 {
			c.write(request("GET", "/"+hitHash+".narinfo"))
			if resp, body := c.read("GET"); resp.StatusCode != 200 || body != hitBody {
				t.Fatalf("answer beside a slowloris = %d %q", resp.StatusCode, body)
			}
		}
		if !closed(slow.c, 15*time.Second) {
			t.Fatal("a slowloris still connected after 15 s")
		}
		if d, ok := <-cut; ok && d < 500*time.Millisecond {
			t.Errorf("slowloris cut off after %v, before ReadTimeout", d)
		}
		idle := dial(t, addr)
		if !closed(idle.c, 15*time.Second) {
			t.Fatal("an idle connection still open after 15 s")
		}
	})
}

// A thousand clients at once, each with its own connection.
func TestEventLoop_ThousandConnections(t *testing.T) {
	forEachLoop(t, func(t *testing.T, engine string) {
		addr, _ := serve(t, Config{Engine: engine}, &source{rep: newReplica(t)})
		const n = 1000
		conns := make([]*conn, n)
		for i := range conns {
			conns[i] = dial(t, addr)
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i, c := range conns {
			wg.Go(func() {
				for k := range 3 {
					path := "/" + hitHash + ".narinfo"
					if (i+k)%2 == 1 {
						path = "/0000000000000000000000000000000a.narinfo"
					}
					if _, err := io.WriteString(c.c, request("GET", path)); err != nil {
						errs <- err
						return
					}
					resp, err := http.ReadResponse(c.br, nil)
					if err != nil {
						errs <- fmt.Errorf("connection %d: %w", i, err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if want := 200 + 204*((i+k)%2); resp.StatusCode != want {
						errs <- fmt.Errorf("connection %d: %d, want %d", i, resp.StatusCode, want)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// Shutdown answers what was asked, closes the connections, and returns.
func TestEventLoop_Shutdown(t *testing.T) {
	forEachLoop(t, func(t *testing.T, engine string) {
		srv, err := New(Config{Engine: engine}, &source{rep: newReplica(t)})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, ln) }()
		idle, busy := dial(t, ln.Addr().String()), dial(t, ln.Addr().String())
		busy.write(request("GET", "/"+hitHash+".narinfo"))
		busy.read("GET")
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve = %v after shutdown", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Serve still running 30 s after shutdown")
		}
		for _, c := range []*conn{idle, busy} {
			if !closed(c.c, 10*time.Second) {
				t.Error("connection still open after shutdown")
			}
		}
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
			t.Error("still accepting after shutdown")
		}
	})
}

// The answers the exchange writes for any input are well-formed HTTP,
// and it never reads past what it was given.
func FuzzExchange_Serve(f *testing.F) {
	for _, s := range []string{
		request("GET", "/"+hitHash+".narinfo"),
		request("HEAD", "/nix-cache-info") + request("GET", "/healthz"),
		"GET / HTTP/1.0\r\n\r\n",
		"PUT /x.narinfo HTTP/1.1\r\nContent-Length: 2\r\n\r\nab",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /x HTTP/1.1\nHost: a\n\nGET /y HTTP/1.1\r\n\r\n",
		"\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	srv, err := New(Config{}, &source{})
	if err != nil {
		f.Fatal(err)
	}
	x := newExchange(srv)
	f.Fuzz(func(t *testing.T, in []byte) {
		var out []byte
		used, closeConn := x.serve(in, &out, false)
		if used < 0 || used > len(in) {
			t.Fatalf("used %d of %d bytes", used, len(in))
		}
		if len(out) > 0 && !bytes.HasPrefix(out, []byte("HTTP/1.1 ")) {
			t.Fatalf("answer is not HTTP/1.1:\n%q", out)
		}
		if bytes.Contains(bytes.ToUpper(in), []byte("HEAD")) {
			return // answers without the bodies their lengths state
		}
		br := bufio.NewReader(bytes.NewReader(out))
		for {
			if _, err := br.Peek(1); err == io.EOF {
				break
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("answer unreadable: %v\n%q", err, out)
			}
			if resp.ContentLength < 0 {
				t.Fatalf("answer without Content-Length:\n%q", out)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.Close && !closeConn {
				t.Fatalf("answer says close, serve does not:\n%q", out)
			}
		}
	})
}

// BenchmarkExchange_Serve measures what the event loops add to Handle for
// a pipelined batch of hits: reading the requests and writing the answers.
func BenchmarkExchange_Serve(b *testing.B) {
	srv, err := New(Config{}, &source{rep: newReplica(b)})
	if err != nil {
		b.Fatal(err)
	}
	x := newExchange(srv)
	in := []byte(strings.Repeat("GET /"+hitHash+".narinfo HTTP/1.1\r\nHost: 127.0.0.1:8081\r\nUser-Agent: Nix/2.8.0\r\nAccept: */*\r\n\r\n", 4))
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		out = out[:0]
		x.serve(in, &out, false)
	}
}

// Every connection is closed, and counted closed, once its client has gone
// (after an answer, or with answers waiting that it never read) or it has
// timed out (idle, or halfway through a request).
func TestServer_ClosesConnections(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			addr, srv := serve(t, Config{Engine: engine}, &source{rep: newReplica(t)})
			answered, flood := dial(t, addr), dial(t, addr)
			answered.write(request("GET", "/"+hitHash+".narinfo"))
			answered.read("GET")
			go io.WriteString(flood.c, strings.Repeat(request("GET", "/"+hitHash+".narinfo"), 5000))
			testutil.Eventually(t, "2 connections counted open", 30*time.Second, func() bool { return srv.openConns() == 2 })
			time.Sleep(100 * time.Millisecond) // answers pile up unread
			answered.c.Close()
			flood.c.Close()
			testutil.Eventually(t, "the clients' connections closed", 30*time.Second, func() bool { return srv.openConns() == 0 })

			addr, srv = serve(t, Config{Engine: engine, ReadTimeout: 2 * time.Second, IdleTimeout: 2 * time.Second}, &source{rep: newReplica(t)})
			idle, half := dial(t, addr), dial(t, addr)
			half.write("GET /" + hitHash)
			testutil.Eventually(t, "2 connections counted open", 30*time.Second, func() bool { return srv.openConns() == 2 })
			testutil.Eventually(t, "the connections timed out", 30*time.Second, func() bool { return srv.openConns() == 0 })
			for _, c := range []*conn{idle, half} {
				if !closed(c.c, 10*time.Second) {
					t.Error("connection still open")
				}
			}
		})
	}
}

// A client that sends its requests and then shuts its side down gets every
// answer before the connection closes, however many there are.
func TestEventLoop_HalfClose(t *testing.T) {
	forEachLoop(t, func(t *testing.T, engine string) {
		addr, _ := serve(t, Config{Engine: engine}, &source{rep: newReplica(t)})
		c := dial(t, addr)
		const n = 3000 // answers well beyond maxPendingAnswers
		go func() {
			io.WriteString(c.c, strings.Repeat(request("GET", "/"+hitHash+".narinfo"), n))
			c.c.(*net.TCPConn).CloseWrite()
		}()
		time.Sleep(200 * time.Millisecond) // the answers pile up unread
		for i := range n {
			if resp, body := c.read("GET"); resp.StatusCode != 200 || body != hitBody {
				t.Fatalf("answer %d = %d %q", i, resp.StatusCode, body)
			}
		}
		if !closed(c.c, 10*time.Second) {
			t.Error("connection still open after the last answer")
		}
	})
}
