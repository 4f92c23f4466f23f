package edge

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// conn is a raw client connection to an edge, for what net/http does not
// let a test control: pipelining, and requests written a byte at a time.
type conn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A deadline keeps a broken server from hanging the test; it is
	// generous, as the machine may be busy.
	c.SetDeadline(time.Now().Add(time.Minute))
	return &conn{t: t, c: c, br: bufio.NewReader(c)}
}

func (c *conn) write(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one response to a request with method, checking that its
// length is stated.
func (c *conn) read(method string) (*http.Response, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.ContentLength < 0 {
		c.t.Errorf("%s answer %d has no Content-Length", method, resp.StatusCode)
	}
	return resp, string(b)
}

func request(method, path string) string {
	return method + " " + path + " HTTP/1.1\r\nHost: edge\r\n\r\n"
}

var exchanges = []struct {
	method, path string
	code         int
	body         string
}{
	{"GET", "/" + hitHash + ".narinfo", 200, hitBody},
	{"GET", "/0000000000000000000000000000000a.narinfo", 404, "not found\n"},
	{"HEAD", "/" + hitHash + ".narinfo", 200, ""},
	{"GET", "/" + narURL, 302, "found\n"},
	{"GET", "/nix-cache-info", 200, "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n"},
	{"HEAD", "/0000000000000000000000000000000a.narinfo", 404, ""},
	{"GET", "/" + hitHash + ".narinfo", 200, hitBody},
}

func TestServer_HTTP11(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { testHTTP11(t, engine) })
	}
}

func testHTTP11(t *testing.T, engine string) {
	addr, _ := serve(t, Config{Engine: engine}, &source{rep: newReplica(t)})
	check := func(t *testing.T, i int, resp *http.Response, body string) {
		t.Helper()
		x := exchanges[i]
		if resp.StatusCode != x.code || body != x.body {
			t.Errorf("answer %d to %s %s = %d %q, want %d %q", i, x.method, x.path, resp.StatusCode, body, x.code, x.body)
		}
	}

	t.Run("keep-alive", func(t *testing.T) {
		c := dial(t, addr)
		for i, x := range exchanges {
			c.write(request(x.method, x.path))
			resp, body := c.read(x.method)
			check(t, i, resp, body)
		}
	})

	// Guix writes a batch of requests and reads each answer by its
	// Content-Length, 404s included.
	t.Run("pipelining", func(t *testing.T) {
		c := dial(t, addr)
		var all strings.Builder
		for _, x := range exchanges {
			all.WriteString(request(x.method, x.path))
		}
		c.write(all.String())
		for i, x := range exchanges {
			resp, body := c.read(x.method)
			check(t, i, resp, body)
		}
	})

	t.Run("request a byte at a time", func(t *testing.T) {
		c := dial(t, addr)
		for _, b := range []byte(request("GET", "/"+hitHash+".narinfo")) {
			c.write(string(b))
		}
		resp, body := c.read("GET")
		check(t, 0, resp, body)
	})

	t.Run("HEAD has no body", func(t *testing.T) {
		c := dial(t, addr)
		c.write(request("HEAD", "/"+hitHash+".narinfo") + request("GET", "/"+hitHash+".narinfo"))
		resp, body := c.read("HEAD")
		if resp.StatusCode != 200 || body != "" || resp.ContentLength != int64(len(hitBody)) {
			t.Errorf("HEAD = %d, %q, Content-Length %d; want 200, no body, %d", resp.StatusCode, body, resp.ContentLength, len(hitBody))
		}
		// A body after the HEAD answer would be read as the next answer.
		resp, body = c.read("GET")
		check(t, 0, resp, body)
	})

	t.Run("oversize header", func(t *testing.T) {
		c := dial(t, addr)
		c.write("GET /" + hitHash + ".narinfo HTTP/1.1\r\nHost: edge\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n")
		resp, _ := c.read("GET")
		if resp.StatusCode != 431 {
			t.Errorf("oversize header = %d, want 431", resp.StatusCode)
		}
	})

	t.Run("oversize body", func(t *testing.T) {
		c := dial(t, addr)
		c.write(fmt.Sprintf("POST /%s.narinfo HTTP/1.1\r\nHost: edge\r\nContent-Length: %d\r\n\r\n", hitHash, 1<<20))
		resp, _ := c.read("POST")
		if resp.StatusCode != 413 {
			t.Errorf("oversize body = %d, want 413", resp.StatusCode)
		}
	})
}
