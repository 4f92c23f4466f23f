package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/narthex-cache/narthex/narinfo"
)

// maxNarinfoSize bounds a narinfo or nix-cache-info read from a source, as
// the origin bounds the ones it takes by default.
const maxNarinfoSize = 1 << 20

// ErrNotCache is the error of a source that is not a binary cache: a
// directory without nix-cache-info or narinfos, or a URL that does not
// serve nix-cache-info.
var ErrNotCache = errors.New("not a binary cache")

// errNotInSource is a narinfo the source does not have.
var errNotInSource = errors.New("not in the source")

// source is a binary cache to import from. Names are paths relative to its
// root: "nix-cache-info", "<hash>.narinfo", "nar/<file>".
type source interface {
	// get opens name and returns its size (-1 when unknown); a name the
	// source lacks gives an error matching errNotInSource.
	get(ctx context.Context, name string) (io.ReadCloser, int64, error)
	// list returns the hashes of every narinfo of the source, or
	// errNeedPaths when it cannot be listed.
	list(ctx context.Context) ([]string, error)
	// seekable reports whether get can be called again cheaply, so that a
	// file is hashed and then read again for its upload instead of being
	// copied aside.
	seekable() bool
	// baseURL is the http(s) URL clients may download name from at
	// baseURL + "/" + name, or "" for a directory.
	baseURL() string
}

// errNeedPaths is the listing of a source that cannot be listed.
var errNeedPaths = errors.New("an HTTP cache cannot be listed: give the store paths to import")

// openSource returns the source s names: "file:///dir", a directory path,
// or an http(s) URL.
func openSource(s string, client *http.Client) (source, error) {
	if httpURL(s) {
		return &httpSource{base: strings.TrimRight(s, "/"), client: client}, nil
	}
	dir := s
	if strings.HasPrefix(s, "file://") {
		u, err := url.Parse(s)
		if err != nil || u.Host != "" || u.RawQuery != "" {
			return nil, fmt.Errorf("source %s: a file URL is file:///absolute/dir (query options such as ?compression= do not apply)", s)
		}
		dir = u.Path
	} else if strings.Contains(s, "://") {
		return nil, fmt.Errorf("source %s: want file:///dir, a directory or an http(s) URL", s)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", s, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("source %s: %w: not a directory", s, ErrNotCache)
	}
	return &dirSource{dir: dir}, nil
}

// dirSource is a directory "nix copy --to file://" wrote.
type dirSource struct{ dir string }

func (d *dirSource) get(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	if !fs.ValidPath(name) {
		return nil, 0, fmt.Errorf("%s: %w", name, errNotInSource)
	}
	// A NAR file is kept under its key: a Guix name's escapes decoded.
	f, err := os.Open(filepath.Join(d.dir, filepath.FromSlash(narinfo.URLKey(name))))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("%s: %w", name, errNotInSource)
	}
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w: not a regular file", name, errNotInSource)
	}
	return f, st.Size(), nil
}

func (d *dirSource) list(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, err
	}
	var hashes []string
	for _, e := range entries {
		if h, ok := strings.CutSuffix(e.Name(), ".narinfo"); ok && e.Type().IsRegular() {
			hashes = append(hashes, h)
		}
	}
	return hashes, nil
}

func (d *dirSource) seekable() bool  { return true }
func (d *dirSource) baseURL() string { return "" }

// httpSource is a binary cache served over HTTP.
type httpSource struct {
	base   string // without a trailing "/"
	client *http.Client
}

func (h *httpSource) get(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/"+name, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, resp.ContentLength, nil
	case http.StatusNotFound, http.StatusGone, http.StatusForbidden:
		// As Nix reads them: S3 says 403 for a missing key.
		resp.Body.Close()
		return nil, 0, fmt.Errorf("%s: %w (%s)", name, errNotInSource, resp.Status)
	}
	resp.Body.Close()
	return nil, 0, fmt.Errorf("GET %s/%s: %s", h.base, name, resp.Status)
}

func (h *httpSource) list(context.Context) ([]string, error) { return nil, errNeedPaths }
func (h *httpSource) seekable() bool                         { return false }
func (h *httpSource) baseURL() string                        { return h.base }

// readSmall reads name from src whole, up to maxNarinfoSize bytes.
func readSmall(ctx context.Context, src source, name string) ([]byte, error) {
	r, _, err := src.get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxNarinfoSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxNarinfoSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxNarinfoSize)
	}
	return b, nil
}

// cacheStoreDir reads the StoreDir of a nix-cache-info text; "" when it
// has none.
func cacheStoreDir(text []byte) string {
	for line := range strings.SplitSeq(string(text), "\n") {
		if v, ok := strings.CutPrefix(line, "StoreDir:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
