package origin

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/testutil"
)

// patience bounds every wait for the origin in these tests: far beyond the
// second-long bounds they configure, so that a slow, busy machine passes.
const patience = 30 * time.Second

// dialFrom opens a raw connection to the harness's origin from the local
// address ip (loopback holds all of 127/8).
func (h *harness) dialFrom(ip string) net.Conn {
	h.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: patience}
	c, err := d.Dial("tcp", h.ts.Listener.Addr().String())
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// readAnswer reads one response from c, waiting at most patience.
func readAnswer(t *testing.T, c net.Conn, br *bufio.Reader, method string) (*http.Response, string, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(patience))
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// waitClosed waits for the origin to close c: a read ends in EOF or a
// reset, not in the test's own timeout.
func waitClosed(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(patience))
	_, err := io.Copy(io.Discard, br)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %s", patience)
	}
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("waiting for the connection to close: %v", err)
	}
}

// getOn sends a keep-alive GET of /nix-cache-info on c and reads the
// answer.
func getOn(t *testing.T, c net.Conn, br *bufio.Reader) (*http.Response, error) {
	t.Helper()
	if _, err := io.WriteString(c, "GET /nix-cache-info HTTP/1.1\r\nHost: origin\r\n\r\n"); err != nil {
		return nil, err
	}
	resp, _, err := readAnswer(t, c, br, http.MethodGet)
	return resp, err
}

func TestServe_UnauthenticatedBodyIsNotRead(t *testing.T) {
	t.Parallel()
	// A window far longer than the test: only the refusal may close
	// these connections.
	h := newHarness(t, func(c *Config) { c.UploadRateWindow = 10 * time.Minute; c.TempFileMaxAge = time.Hour })
	for _, tt := range []struct{ name, headers string }{
		{"no token", ""},
		{"no token, expecting 100-continue", "Expect: 100-continue\r\n"},
		{"wrong token", "Authorization: Bearer narthex_WRONG\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := h.in(t)
			c := h.dialFrom("127.0.0.1")
			br := bufio.NewReader(c)
			// A body is announced and never sent.
			fmt.Fprintf(c, "PUT /nix-cache-info HTTP/1.1\r\nHost: origin\r\nContent-Length: 1000\r\n%s\r\n", tt.headers)
			resp, body, err := readAnswer(t, c, br, http.MethodPut)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
				t.Errorf("answer %d, Connection %q; want 401 and close", resp.StatusCode, resp.Header.Get("Connection"))
			}
			if !strings.Contains(body, "token") {
				t.Errorf("body %q gives no reason", body)
			}
			waitClosed(t, c, br)
		})
	}
}

func TestServe_SlowUploadIsCutOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.MinUploadRate = 1000; c.UploadRateWindow = time.Second })
	before := h.snapshot()
	n := newNar(strings.Repeat("x", 10000), ".xz")
	c := h.dialFrom("127.0.0.1")
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "PUT /%s HTTP/1.1\r\nHost: origin\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", n.url, h.token, len(n.data))
	// 100 bytes/s: a tenth of the minimum, for up to the whole body.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; i < len(n.data); i += 10 {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := c.Write(n.data[i : i+10]); err != nil {
				return
			}
		}
	}()
	resp, body, err := readAnswer(t, c, br, http.MethodPut)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("a 100 bytes/s upload was not cut off within %s", patience)
	case err == nil && resp.StatusCode != http.StatusRequestTimeout:
		t.Errorf("answer %d %q, want 408", resp.StatusCode, body)
	case err == nil && !strings.Contains(body, "slower than 1000 bytes/s"):
		t.Errorf("body %q gives no reason", body)
	}
	// Otherwise the connection was closed before the answer could be read,
	// which cuts the upload off too.
	waitClosed(t, c, br)
	h.unchanged(before)

	// An upload at full speed passes the same bounds.
	h.putNar(newNar(strings.Repeat("y", 60<<10), ".xz"))
}

func TestServe_IdleConnectionsClose(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.IdleTimeout = time.Second; c.ReadHeaderTimeout = time.Second })
	t.Run("after a request", func(t *testing.T) {
		h := h.in(t)
		c := h.dialFrom("127.0.0.1")
		br := bufio.NewReader(c)
		resp, err := getOn(t, c, br)
		if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("keep-alive GET = %v, %v", resp, err)
		}
		waitClosed(t, c, br)
	})
	t.Run("without a request", func(t *testing.T) {
		h := h.in(t)
		c := h.dialFrom("127.0.0.1")
		waitClosed(t, c, bufio.NewReader(c))
	})
	t.Run("with headers never finished", func(t *testing.T) {
		h := h.in(t)
		c := h.dialFrom("127.0.0.1")
		io.WriteString(c, "GET /nix-cache-info HTTP/1.1\r\nHost: origin\r\n")
		waitClosed(t, c, bufio.NewReader(c))
	})
}

func TestServe_ConnectionsPerClient(t *testing.T) {
	t.Parallel()
	const limit = 3
	h := newHarness(t, func(c *Config) { c.MaxConnsPerClient = limit })
	var held []net.Conn
	for range limit {
		c := h.dialFrom("127.0.0.1")
		if resp, err := getOn(t, c, bufio.NewReader(c)); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET on connection %d = %v, %v", len(held)+1, resp, err)
		}
		held = append(held, c)
	}

	// One more from the same address is refused with a reason.
	c := h.dialFrom("127.0.0.1")
	br := bufio.NewReader(c)
	resp, err := getOn(t, c, br)
	if err == nil && (resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "") {
		t.Errorf("connection over the limit answered %d, want 503 with Retry-After", resp.StatusCode)
	}
	if err != nil && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("connection over the limit: %v", err)
	}
	waitClosed(t, c, br)

	// Another address is served.
	other := h.dialFrom("127.0.0.2")
	if resp, err := getOn(t, other, bufio.NewReader(other)); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET from another address = %v, %v", resp, err)
	}

	// A closed connection frees its slot.
	held[0].Close()
	testutil.Eventually(t, "a slot freed by a closed connection", patience, func() bool {
		c := h.dialFrom("127.0.0.1")
		defer c.Close()
		resp, err := getOn(t, c, bufio.NewReader(c))
		return err == nil && resp.StatusCode == http.StatusOK
	})
	// Connections made while the slot was being freed may have been
	// refused too. The metrics are read once the origin has seen every
	// connection of this test close.
	for _, c := range held {
		c.Close()
	}
	var r response
	testutil.Eventually(t, "metrics served", patience, func() bool {
		r = h.do(http.MethodGet, "/metrics", nil)
		return r.status == http.StatusOK
	})
	_, count, _ := strings.Cut(r.body, "\nnarthex_origin_connections_refused_total ")
	count, _, _ = strings.Cut(count, "\n")
	if n, err := strconv.Atoi(count); err != nil || n < 1 {
		t.Errorf("metrics count %q refused connections, want at least 1", count)
	}
}

// TestServe_UploadExpectingContinue uploads as curl does a large body: the
// headers with Expect: 100-continue, the body only after the interim
// answer.
func TestServe_UploadExpectingContinue(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	n := newNar(strings.Repeat("z", 50<<10), ".xz")
	c := h.dialFrom("127.0.0.1")
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "PUT /%s HTTP/1.1\r\nHost: origin\r\nAuthorization: Bearer %s\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n",
		n.url, h.token, len(n.data))
	c.SetReadDeadline(time.Now().Add(patience))
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("first answer line %q, %v; want 100 Continue", line, err)
	}
	if rest, err := br.ReadString('\n'); err != nil || rest != "\r\n" {
		t.Fatalf("100 Continue followed by %q, %v", rest, err)
	}
	if _, err := c.Write(n.data); err != nil {
		t.Fatal(err)
	}
	resp, body, err := readAnswer(t, c, br, http.MethodPut)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("upload = %v %q, %v; want 200", resp, body, err)
	}
	if r := h.do(http.MethodHead, "/"+n.url, nil); r.status != http.StatusOK {
		t.Errorf("HEAD of the uploaded NAR = %d", r.status)
	}
}

// TestServe_StalledDownloadIsCutOff downloads a NAR file far larger than
// the socket buffers and stops reading after the headers: the origin cuts
// the download off instead of waiting for good, and a reading client gets
// the whole file under the same bound.
func TestServe_StalledDownloadIsCutOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.DownloadStallTimeout = 3 * time.Second })
	// Far more than the kernel buffers of loopback sockets hold.
	const size = 64 << 20
	n := newNar("named for other bytes; served as they are", "")
	p := filepath.Join(h.cfg.LocalStoreDir, filepath.FromSlash(n.url))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}

	c := h.dialFrom("127.0.0.1")
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "GET /%s HTTP/1.1\r\nHost: origin\r\n\r\n", n.url)
	c.SetReadDeadline(time.Now().Add(patience))
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET = %v, %v", resp, err)
	}
	testutil.Eventually(t, "the stalled download cut off", patience, func() bool {
		return strings.Contains(h.do(http.MethodGet, "/metrics", nil).body, "narthex_origin_downloads_cut_off_total 1")
	})
	c.SetReadDeadline(time.Now().Add(patience))
	got, err := io.Copy(io.Discard, resp.Body)
	if got >= size || err == nil {
		t.Errorf("stalled client read %d of %d bytes (%v), want the download cut off", got, size, err)
	}

	// A client that reads takes it all.
	r := h.do(http.MethodGet, "/"+n.url, nil)
	if r.status != http.StatusOK || len(r.body) != size {
		t.Errorf("GET by a reading client = %d with %d bytes, want 200 with %d", r.status, len(r.body), size)
	}
}
