package origin

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/testutil"
)

func TestServer_BadNar(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	good := newNar("some compressed nar", ".xz")
	big := newNar(strings.Repeat("x", 65<<10), ".xz")
	tests := []struct {
		name   string
		path   string
		body   io.Reader
		length int64 // Content-Length; -1 sends the body chunked
		header []string
		status int
		want   string
	}{
		{name: "body hash differs from the name", path: "/" + good.url, body: strings.NewReader("other bytes"), length: 11,
			status: 400, want: "NAR body hash sha256:"},
		{name: "empty body", path: "/" + good.url, body: strings.NewReader(""), length: 0, status: 400, want: "does not match " + good.hash},
		{name: "over the limit", path: "/" + big.url, body: bytes.NewReader(big.data), length: int64(len(big.data)), status: 413, want: "larger than the limit of 65536 bytes"},
		{name: "over the limit, chunked", path: "/" + big.url, body: bytes.NewReader(big.data), length: -1, status: 413, want: "larger than the limit"},
		{name: "short hash", path: "/nar/abc.nar.xz", body: strings.NewReader("x"), length: 1, status: 400, want: "nar/<sha256"},
		{name: "unknown extension", path: "/" + strings.TrimSuffix(good.url, ".xz") + ".rar", body: strings.NewReader("x"), length: 1, status: 400, want: "compression"},
		{name: "Guix name, not gzip", path: "/nar/gzip/" + storeHash("x") + "-x", body: strings.NewReader("x"), length: 1, status: 400, want: "not a gzip file"},
		{name: "Guix name, unknown folder", path: "/nar/xz/" + storeHash("x") + "-x", body: strings.NewReader("x"), length: 1, status: 400, want: "nar/[gzip/|lzip/|zstd/]"},
		{name: "Content-Encoding", path: "/" + good.url, body: bytes.NewReader(good.data), length: int64(len(good.data)),
			header: []string{"Content-Encoding", "gzip"}, status: 400, want: "Content-Encoding"},
		{name: "no token", path: "/" + good.url, body: bytes.NewReader(good.data), length: int64(len(good.data)),
			header: []string{"Authorization", "-"}, status: 401, want: "token required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h.in(t)
			before := h.snapshot()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, h.ts.URL+tt.path, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = tt.length
			if tt.length == -1 {
				req.Body = io.NopCloser(tt.body) // hides the length
			}
			req.Header.Set("Authorization", "Bearer "+h.token)
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Set(tt.header[i], tt.header[i+1])
			}
			if req.Header.Get("Authorization") == "-" {
				req.Header.Del("Authorization")
			}
			resp, err := h.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			checkHeaders(t, http.MethodPut, resp, len(b))
			checkError(t, response{status: resp.StatusCode, header: resp.Header, body: string(b)}, tt.status, tt.want)
			h.unchanged(before)
		})
	}
	// The good NAR itself is accepted.
	h.putNar(good)
}

func TestServer_NarBodyBreaksOff(t *testing.T) {
	t.Parallel()
	n := newNar(strings.Repeat("nar bytes ", 100), ".xz")
	request := func(token string) string {
		return "PUT /" + n.url + " HTTP/1.1\r\nHost: origin\r\nAuthorization: Bearer " + token +
			"\r\nContent-Length: " + itoa(len(n.data)) + "\r\n\r\n" + string(n.data[:100])
	}

	t.Run("half-closed", func(t *testing.T) {
		h := newHarness(t, nil)
		before := h.snapshot()
		conn, err := net.Dial("tcp", h.ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, request(h.token))
		conn.(*net.TCPConn).CloseWrite()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodPut})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		checkHeaders(t, http.MethodPut, resp, len(b))
		checkError(t, response{status: resp.StatusCode, body: string(b)}, 400, "ended after 100 bytes")
		h.unchanged(before)
	})

	t.Run("disconnected", func(t *testing.T) {
		h := newHarness(t, nil)
		before := h.snapshot()
		conn, err := net.Dial("tcp", h.ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, request(h.token))
		conn.Close()
		// Wait until the upload has been answered, to a client long gone.
		const answered = `narthex_origin_uploads_total{kind="nar",status="400"} 1`
		testutil.Eventually(t, "the broken upload to be answered", time.Minute, func() bool {
			return strings.Contains(h.do(http.MethodGet, "/metrics", nil).body, answered)
		})
		h.unchanged(before)
	})
}
