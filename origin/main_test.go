package origin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/narinfo"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// harness is an origin serving over HTTP from a fresh database and store
// directory, with one upload token.
type harness struct {
	t     testing.TB
	cfg   Config
	srv   *Server
	ts    *httptest.Server
	db    *pgxpool.Pool
	key   narinfo.SecretKey
	token string
}

// newHarness starts an origin; change, when not nil, adjusts its Config.
func newHarness(t testing.TB, change func(*Config)) *harness {
	t.Helper()
	ctx := t.Context()
	connString := pgtest.NewOriginDatabase(t)
	db, err := pgxpool.New(context.Background(), connString)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	key, _, err := narinfo.GenerateKey("origin-test-1")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	cfg := Config{
		PublicURL:      "http://" + ts.Listener.Addr().String() + "/",
		LocalStoreDir:  filepath.Join(t.TempDir(), "store"),
		SigningKeys:    []narinfo.SecretKey{key},
		MaxNarSize:     64 << 10,
		MaxNarinfoSize: 8 << 10,
		Logger:         slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if change != nil {
		change(&cfg)
	}
	srv, err := New(ctx, cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	// The server and listener Serve would use, with their bounds.
	ts.Config = srv.httpServer()
	ts.Listener = srv.limitListener(ts.Listener, true)
	ts.Start()
	t.Cleanup(ts.Close)
	token, err := CreateToken(ctx, db, "uploader")
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, cfg: cfg.withDefaults(), srv: srv, ts: ts, db: db, key: key, token: token}
}

// in returns h reporting to t, for use in a subtest.
func (h *harness) in(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

// response is an HTTP answer, read completely.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request with the harness's token (unless header sets
// Authorization; "-" there sends none) and reads the answer.
func (h *harness) do(method, path string, body []byte, header ...string) response {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if req.Header.Get("Authorization") == "-" {
		req.Header.Del("Authorization")
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	checkHeaders(h.t, method, resp, len(b))
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// raw sends request text as it is, so that paths reach the server
// unnormalized, and reads the answer.
func (h *harness) raw(request string) response {
	h.t.Helper()
	conn, err := net.Dial("tcp", h.ts.Listener.Addr().String())
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, request); err != nil {
		h.t.Fatal(err)
	}
	method, _, _ := strings.Cut(request, " ")
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	checkHeaders(h.t, method, resp, len(b))
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// checkHeaders checks what every answer must have: a Content-Length (but
// on 204) that matches its body, no Content-Encoding, and for errors a
// one-line text body.
func checkHeaders(t testing.TB, method string, resp *http.Response, bodyLen int) {
	t.Helper()
	if enc := resp.Header.Get("Content-Encoding"); enc != "" {
		t.Errorf("%s answered with Content-Encoding %q", method, enc)
	}
	if resp.StatusCode != http.StatusNoContent {
		cl := resp.Header.Get("Content-Length")
		if cl == "" {
			t.Errorf("%s answered %d without Content-Length", method, resp.StatusCode)
		} else if n, _ := strconv.Atoi(cl); method != http.MethodHead && n != bodyLen {
			t.Errorf("Content-Length %d, body %d bytes", n, bodyLen)
		}
	}
	if resp.StatusCode >= 400 && method != http.MethodHead {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("error answer has Content-Type %q", ct)
		}
	}
}

// checkError checks an error answer: its status, and a one-line body
// containing want.
func checkError(t *testing.T, r response, status int, want string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d (body %q)", r.status, status, r.body)
	}
	if !strings.HasSuffix(r.body, "\n") || strings.Count(r.body, "\n") != 1 {
		t.Errorf("body %q is not one line", r.body)
	}
	if !strings.Contains(r.body, want) {
		t.Errorf("body %q does not contain %q", r.body, want)
	}
}

// snapshot is what an upload can change: row counts and the files in the
// store directory, temporary files included.
type snapshot struct {
	Rows  map[string]int
	Files []string
}

func (h *harness) snapshot() snapshot {
	h.t.Helper()
	s := snapshot{Rows: map[string]int{}}
	for _, table := range []string{"narinfo", "nar_file", "narinfo_file", "reference", "payload_location", "store"} {
		var n int
		if err := h.db.QueryRow(h.t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			h.t.Fatal(err)
		}
		s.Rows[table] = n
	}
	dir := h.cfg.LocalStoreDir
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			s.Files = append(s.Files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	slices.Sort(s.Files)
	return s
}

// unchanged checks that nothing changed since before.
func (h *harness) unchanged(before snapshot) {
	h.t.Helper()
	if diff := cmp.Diff(before, h.snapshot()); diff != "" {
		h.t.Errorf("state changed (-before +after):\n%s", diff)
	}
}

// nar is a NAR file to upload: arbitrary bytes named by their SHA-256.
type nar struct {
	url  string // "nar/<filehash>.nar<ext>"
	data []byte
	hash string // "sha256:<nixbase32>"
}

func newNar(content, ext string) nar {
	sum := sha256.Sum256([]byte(content))
	h := nixbase32.EncodeToString(sum[:])
	return nar{url: "nar/" + h + ".nar" + ext, data: []byte(content), hash: "sha256:" + h}
}

// putNar uploads n and insists on success.
func (h *harness) putNar(n nar) {
	h.t.Helper()
	if r := h.do(http.MethodPut, "/"+n.url, n.data); r.status != http.StatusOK {
		h.t.Fatalf("PUT %s: %d %q", n.url, r.status, r.body)
	}
}

// storeHash makes a store path hash from seed.
func storeHash(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return nixbase32.EncodeToString(sum[:20])
}

// narHash makes a NarHash from seed.
func narHash(seed string) string {
	sum := sha256.Sum256([]byte("nar " + seed))
	return "sha256:" + nixbase32.EncodeToString(sum[:])
}

// nixInfo returns a Nix narinfo for <hash of name>-<name> with the xz file f,
// referencing itself and the paths refs (base names).
func nixInfo(name string, f nar, refs ...string) *narinfo.NarInfo {
	hash := storeHash(name)
	return &narinfo.NarInfo{
		StorePath:  narinfo.NixStoreDir + "/" + hash + "-" + name,
		Hash:       hash,
		Name:       name,
		Files:      []narinfo.File{{URL: f.url, Compression: "xz", FileHash: f.hash, FileSize: uint64(len(f.data))}},
		NarHash:    narHash(name),
		NarSize:    1000 + uint64(len(name)),
		References: append([]string{hash + "-" + name}, refs...),
		Deriver:    storeHash("drv "+name) + "-" + name + ".drv",
		System:     "x86_64-linux",
	}
}

// base returns the base name of ni's store path.
func base(ni *narinfo.NarInfo) string { return ni.Hash + "-" + ni.Name }

// putInfo uploads ni rendered and insists on success.
func (h *harness) putInfo(ni *narinfo.NarInfo) {
	h.t.Helper()
	if r := h.do(http.MethodPut, "/"+ni.Hash+".narinfo", ni.Render()); r.status != http.StatusOK {
		h.t.Fatalf("PUT %s.narinfo: %d %q", ni.Hash, r.status, r.body)
	}
}

// storedBody returns the narinfo body stored for hash.
func (h *harness) storedBody(hash string) string {
	h.t.Helper()
	var body string
	if err := h.db.QueryRow(h.t.Context(), "SELECT body FROM narinfo WHERE hash = $1", hash).Scan(&body); err != nil {
		h.t.Fatalf("stored body of %s: %v", hash, err)
	}
	return body
}

// signed returns text with the harness key's Sig line appended.
func (h *harness) signed(text []byte, ni *narinfo.NarInfo) string {
	return string(text) + fmt.Sprintf("Sig: %s\n", h.key.Sign(ni.Fingerprint(h.cfg.StoreDir)))
}
