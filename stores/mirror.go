package stores

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	// DefaultMirrorDialTimeout bounds connecting to a mirror, so that a
	// mirror that is down fails a request in seconds, not minutes.
	DefaultMirrorDialTimeout = 10 * time.Second
	// DefaultMirrorHeaderTimeout bounds the wait for a response's headers.
	// There is no bound on reading a body: a large NAR over a slow link
	// takes as long as it takes, and the caller's context stops it.
	DefaultMirrorHeaderTimeout = 30 * time.Second
	// maxMirrorRedirects is how many redirects a request follows, as
	// net/http's default.
	maxMirrorRedirects = 10
)

// MirrorConfig says where a read-only HTTP mirror is.
type MirrorConfig struct {
	// BaseURL is the http(s) URL under which key "nar/x.nar.xz" is
	// BaseURL/nar/x.nar.xz: another binary cache, or a directory written by
	// nix copy --to file:// behind a web server.
	BaseURL       string
	DialTimeout   time.Duration // DefaultMirrorDialTimeout when zero
	HeaderTimeout time.Duration // DefaultMirrorHeaderTimeout when zero
}

func (c MirrorConfig) withDefaults() MirrorConfig {
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultMirrorDialTimeout
	}
	if c.HeaderTimeout == 0 {
		c.HeaderTimeout = DefaultMirrorHeaderTimeout
	}
	return c
}

// Validate names the first field that cannot work.
func (c MirrorConfig) Validate() error {
	u, err := url.Parse(c.BaseURL)
	switch {
	case c.BaseURL == "":
		return errors.New("http: base URL is required")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("http: base URL %q is not an http(s) URL", c.BaseURL)
	case c.DialTimeout < 0:
		return fmt.Errorf("http: dial timeout %s is negative", c.DialTimeout)
	case c.HeaderTimeout < 0:
		return fmt.Errorf("http: header timeout %s is negative", c.HeaderTimeout)
	}
	return nil
}

// Mirror is a read-only store behind a web server: it is read with GET and
// HEAD, never written to, and cannot be listed. Its methods are safe for
// concurrent use.
type Mirror struct {
	base   string // without a trailing "/"
	client *http.Client
}

// OpenMirror returns the mirror cfg describes. It makes no request.
func OpenMirror(cfg MirrorConfig) (*Mirror, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   cfg.DialTimeout,
		ResponseHeaderTimeout: cfg.HeaderTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   16,
		ForceAttemptHTTP2:     true,
		// NARs are compressed already, and a transparently decompressed
		// body would not have the size HEAD reports.
		DisableCompression: true,
	}
	client := &http.Client{
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to %s URL refused", req.URL.Scheme)
			}
			if len(via) >= maxMirrorRedirects {
				return fmt.Errorf("stopped after %d redirects", maxMirrorRedirects)
			}
			return nil
		},
	}
	return &Mirror{base: strings.TrimSuffix(cfg.BaseURL, "/"), client: client}, nil
}

// URL returns the download URL of key: the base URL and the key as a URL
// path, with + and = escaped too, as a redirect to the file escapes them
// (narinfo.EscapeKey) and as Guix spells the names of its NAR files.
func (m *Mirror) URL(key string) string {
	return m.base + "/" + plusEquals.Replace((&url.URL{Path: key}).EscapedPath())
}

var plusEquals = strings.NewReplacer("+", "%2B", "=", "%3D")

// Put refuses: a mirror is never written to.
func (m *Mirror) Put(ctx context.Context, key string, r io.Reader, wantSHA256 []byte) (int64, []byte, error) {
	return 0, nil, fmt.Errorf("put %s: %w", key, ErrReadOnly)
}

// Delete refuses: a mirror is never written to.
func (m *Mirror) Delete(ctx context.Context, key string) error {
	return fmt.Errorf("delete %s: %w", key, ErrReadOnly)
}

// Walk fails with an error matching errors.ErrUnsupported: a web server
// has no listing to walk.
func (m *Mirror) Walk(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	return fmt.Errorf("walk %s: http mirror cannot be listed: %w", m.base, errors.ErrUnsupported)
}

// Stat returns the size of key from a HEAD request.
func (m *Mirror) Stat(ctx context.Context, key string) (int64, error) {
	resp, err := m.do(ctx, http.MethodHead, key, "")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.ContentLength < 0 {
		return 0, fmt.Errorf("stat %s: %s answered HEAD without a Content-Length", key, m.base)
	}
	return resp.ContentLength, nil
}

// Open opens key with a GET request and returns its size.
func (m *Mirror) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	resp, err := m.do(ctx, http.MethodGet, key, "")
	if err != nil {
		return nil, 0, err
	}
	if resp.ContentLength < 0 {
		// A chunked answer: the size is known only at the end, so ask.
		size, err := m.Stat(ctx, key)
		if err != nil {
			resp.Body.Close()
			return nil, 0, err
		}
		return resp.Body, size, nil
	}
	return resp.Body, resp.ContentLength, nil
}

// OpenRange opens n bytes of key from offset off (n < 0: to the end) with
// an HTTP Range request and returns the size of the whole object.
func (m *Mirror) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	rng, empty, size, err := rangeHeader(ctx, key, off, n, m.Stat)
	if err != nil || empty != nil {
		return empty, size, err
	}
	resp, err := m.do(ctx, http.MethodGet, key, rng)
	if errors.Is(err, ErrRangeNotSatisfiable) {
		// A range starting at the end is the empty rest of the object,
		// which servers refuse; the size tells it from a bad range.
		size, serr := m.Stat(ctx, key)
		if serr != nil {
			return nil, 0, serr
		}
		if _, cerr := checkRange(key, off, n, size); cerr != nil {
			return nil, 0, cerr
		}
		return io.NopCloser(strings.NewReader("")), size, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode == http.StatusOK {
		// The server ignored the range: skip to it in the whole body.
		size := resp.ContentLength
		length, err := checkRange(key, off, n, size)
		if err == nil {
			_, err = io.CopyN(io.Discard, resp.Body, off)
		}
		if err != nil {
			resp.Body.Close()
			return nil, 0, err
		}
		return readCloser{io.LimitReader(resp.Body, length), resp.Body}, size, nil
	}
	size, ok := rangeTotal(resp.Header.Get("Content-Range"))
	if !ok {
		resp.Body.Close()
		return nil, 0, fmt.Errorf("open %s: %s answered a range without a usable Content-Range", key, m.base)
	}
	if _, err := checkRange(key, off, n, size); err != nil {
		resp.Body.Close()
		return nil, 0, err
	}
	return resp.Body, size, nil
}

// do sends a request for key and returns a 200 or 206 response; 404 and
// 410 give fs.ErrNotExist, 416 ErrRangeNotSatisfiable, any other status an
// error naming it.
func (m *Mirror) do(ctx context.Context, method, key, rng string) (*http.Response, error) {
	op := "open"
	if method == http.MethodHead {
		op = "stat"
	}
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, m.URL(key), nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, key, err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, key, err)
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusPartialContent:
		return resp, nil
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotFound, http.StatusGone:
		return nil, fmt.Errorf("%s %s: %s: %w", op, key, resp.Status, fs.ErrNotExist)
	case http.StatusRequestedRangeNotSatisfiable:
		return nil, fmt.Errorf("%s %s: %s: %w", op, key, resp.Status, ErrRangeNotSatisfiable)
	}
	return nil, fmt.Errorf("%s %s: %s answered %s", op, key, m.base, resp.Status)
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}
