package stores

import (
	"bytes"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// mirrorOf serves handler on loopback and opens a mirror of it.
func mirrorOf(t *testing.T, handler http.Handler) *Mirror {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	m, err := OpenMirror(MirrorConfig{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMirror_Statuses(t *testing.T) {
	t.Parallel()
	m := mirrorOf(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/nar/gone.nar":
			w.WriteHeader(http.StatusGone)
		case "/nar/broken.nar":
			w.WriteHeader(http.StatusInternalServerError)
		case "/nar/private.nar":
			w.WriteHeader(http.StatusForbidden)
		default:
			http.NotFound(w, r)
		}
	}))
	ctx := t.Context()
	for _, key := range []string{"nar/absent.nar", "nar/gone.nar"} {
		if _, err := m.Stat(ctx, key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%s) = %v, want fs.ErrNotExist", key, err)
		}
	}
	for key, status := range map[string]string{"nar/broken.nar": "500", "nar/private.nar": "403"} {
		_, err := m.Stat(ctx, key)
		if err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), status) {
			t.Errorf("Stat(%s) = %v, want an error naming status %s", key, err, status)
		}
		_, _, err = m.Open(ctx, key)
		if err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), status) {
			t.Errorf("Open(%s) = %v, want an error naming status %s", key, err, status)
		}
	}
}

func TestMirror_Redirects(t *testing.T) {
	t.Parallel()
	body := []byte("moved bytes")
	m := mirrorOf(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/nar/moved.nar":
			http.Redirect(w, r, "/real/moved.nar", http.StatusFound)
		case "/real/moved.nar":
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
		case "/nar/file.nar":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/nar/loop.nar":
			http.Redirect(w, r, "/nar/loop.nar", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	checkReads(t, m, "nar/moved.nar", body)
	for _, key := range []string{"nar/file.nar", "nar/loop.nar"} {
		if _, _, err := m.Open(t.Context(), key); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%s) = %v, want a refused redirect", key, err)
		}
	}
}

// TestMirror_RangeIgnored reads ranges from a server that answers every
// request with the whole object.
func TestMirror_RangeIgnored(t *testing.T) {
	t.Parallel()
	body := []byte("a server that knows nothing of ranges")
	m := mirrorOf(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/nar/x.nar" {
			http.NotFound(w, r)
			return
		}
		r.Header.Del("Range")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	}))
	checkReads(t, m, "nar/x.nar", body)
}

// TestMirror_Chunked reads a whole object from a server that sends it
// without a Content-Length.
func TestMirror_Chunked(t *testing.T) {
	t.Parallel()
	body := []byte("streamed without a length")
	m := mirrorOf(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.Header().Set("Content-Length", "25")
			return
		}
		w.Write(body[:5])
		w.(http.Flusher).Flush()
		w.Write(body[5:])
	}))
	rc, n, err := m.Open(t.Context(), "nar/x.nar")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, rc); !bytes.Equal(got, body) || n != int64(len(body)) {
		t.Errorf("Open read %q of size %d, want %q of %d", got, n, body, len(body))
	}
}

func TestMirror_URL(t *testing.T) {
	m, err := OpenMirror(MirrorConfig{BaseURL: "https://cache.example/sub/"})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"nar/a b+c.nar": "https://cache.example/sub/nar/a%20b%2Bc.nar",
		"nar/gzip/54dfqaxwz23zvax91bpff2q48w2d2w6s-gtk+-3?a=b": "https://cache.example/sub/nar/gzip/54dfqaxwz23zvax91bpff2q48w2d2w6s-gtk%2B-3%3Fa%3Db",
	} {
		if got := m.URL(key); got != want {
			t.Errorf("URL(%q) = %s, want %s", key, got, want)
		}
	}
}

func TestMirrorConfig_Validate(t *testing.T) {
	tests := []struct {
		cfg  MirrorConfig
		want string
	}{
		{MirrorConfig{}, "base URL is required"},
		{MirrorConfig{BaseURL: "file:///srv/cache"}, `"file:///srv/cache"`},
		{MirrorConfig{BaseURL: "cache.example"}, `"cache.example"`},
		{MirrorConfig{BaseURL: "https://cache.example/?x=1"}, `"https://cache.example/?x=1"`},
		{MirrorConfig{BaseURL: "https://cache.example", DialTimeout: -time.Second}, "dial timeout"},
	}
	for _, tt := range tests {
		_, err := OpenMirror(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("OpenMirror(%+v) = %v, want an error with %s", tt.cfg, err, tt.want)
		}
	}
}
