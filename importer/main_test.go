package importer_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/importer"
	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/narinfo"
	"github.com/narthex-cache/narthex/origin"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testOrigin is a real origin over a fresh database, serving on loopback.
type testOrigin struct {
	t        testing.TB
	url      string
	token    string
	db       *pgxpool.Pool
	localDir string // the local store's directory
	storeDir string
	key      narinfo.SecretKey
}

func newOrigin(t testing.TB, storeDir string) *testOrigin {
	t.Helper()
	db, err := pgxpool.New(context.Background(), pgtest.NewOriginDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	key, _, err := narinfo.GenerateKey("import-test-1")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	localDir := filepath.Join(t.TempDir(), "store")
	srv, err := origin.New(t.Context(), origin.Config{
		StoreDir:      storeDir,
		PublicURL:     "http://" + ts.Listener.Addr().String(),
		LocalStoreDir: localDir,
		SigningKeys:   []narinfo.SecretKey{key},
		Logger:        slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, db)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	token, err := origin.CreateToken(t.Context(), db, "importer")
	if err != nil {
		t.Fatal(err)
	}
	return &testOrigin{t: t, url: ts.URL, token: token, db: db, localDir: localDir, storeDir: storeDir, key: key}
}

// config is an import from source into o.
func (o *testOrigin) config(source string, paths ...string) importer.Config {
	return importer.Config{
		Source: source,
		Paths:  paths,
		Origin: o.url,
		Token:  o.token,
		Jobs:   4,
		Logger: slog.New(slog.NewTextHandler(o.t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// get fetches name from the origin.
func (o *testOrigin) get(name string) (int, []byte) {
	o.t.Helper()
	resp, err := http.Get(o.url + "/" + name)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		o.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// signed returns text with the origin's Sig line appended, as the origin
// serves an uploaded narinfo.
func (o *testOrigin) signed(text []byte) string {
	o.t.Helper()
	ni, err := narinfo.Parse(text, o.storeDir)
	if err != nil {
		o.t.Fatal(err)
	}
	return string(narinfo.AppendSig(text, o.key.Sign(ni.Fingerprint(o.storeDir))))
}

// count runs a query that counts rows.
func (o *testOrigin) count(query string, args ...any) int {
	o.t.Helper()
	var n int
	if err := o.db.QueryRow(o.t.Context(), query, args...).Scan(&n); err != nil {
		o.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// records is a snapshot of what the origin's database holds.
func (o *testOrigin) records() string {
	o.t.Helper()
	return fmt.Sprintf("narinfos %d, nar files %d, locations %d, stores %d",
		o.count("SELECT count(*) FROM narinfo"), o.count("SELECT count(*) FROM nar_file"),
		o.count("SELECT count(*) FROM payload_location"), o.count("SELECT count(*) FROM store"))
}

// narFilesIn lists the NAR files in the origin's local store.
func (o *testOrigin) narFilesIn() []string {
	o.t.Helper()
	entries, err := os.ReadDir(filepath.Join(o.localDir, "nar"))
	if err != nil && !os.IsNotExist(err) {
		o.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// testCache writes a binary cache directory by hand, in the Nix dialect
// unless its store directory says otherwise.
type testCache struct {
	t        testing.TB
	dir      string
	storeDir string
}

func newTestCache(t testing.TB, storeDir string) *testCache {
	t.Helper()
	c := &testCache{t: t, dir: t.TempDir(), storeDir: storeDir}
	c.write("nix-cache-info", []byte("StoreDir: "+storeDir+"\nWantMassQuery: 1\nPriority: 50\n"))
	return c
}

func (c *testCache) write(name string, data []byte) {
	c.t.Helper()
	p := filepath.Join(c.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// testPath is a path of a testCache.
type testPath struct {
	hash, name, storePath string
	url                   string // its NAR file
	text                  []byte // its narinfo
}

func (p *testPath) base() string { return p.hash + "-" + p.name }

// storeHash makes a store path hash from seed.
func storeHash(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return nixbase32.EncodeToString(sum[:20])
}

// fileHash is the "sha256:<nixbase32>" hash of data.
func fileHash(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + nixbase32.EncodeToString(sum[:])
}

// add writes a path name referencing itself and refs, with an xz NAR
// file of made-up bytes, as nix copy --to file:// would.
func (c *testCache) add(name string, refs ...*testPath) *testPath {
	c.t.Helper()
	hash := storeHash(c.storeDir + name)
	data := []byte(strings.Repeat("compressed NAR of "+name+"\n", 100))
	fh := fileHash(data)
	url := "nar/" + strings.TrimPrefix(fh, "sha256:") + ".nar.xz"
	ni := &narinfo.NarInfo{
		StorePath:  c.storeDir + "/" + hash + "-" + name,
		Files:      []narinfo.File{{URL: url, Compression: "xz", FileHash: fh, FileSize: uint64(len(data))}},
		NarHash:    fileHash([]byte("NAR of " + name)),
		NarSize:    uint64(len("NAR of " + name)),
		References: []string{hash + "-" + name},
		System:     "x86_64-linux",
	}
	for _, r := range refs {
		ni.References = append(ni.References, r.base())
	}
	p := &testPath{hash: hash, name: name, storePath: ni.StorePath, url: url, text: ni.Render()}
	c.write(url, data)
	c.write(hash+".narinfo", p.text)
	return p
}

// addGuix writes a path as guix publish serves one: Guix's names of its
// NAR files (nar/gzip/<base name>, nar/zstd/<base name>, escaped),
// repeated URL groups, no FileHash, and a Signature line. The files are
// kept under their keys, as guix publish keeps them. The NAR they hold is
// nar; its NarHash and NarSize are those of narinfoNar.
func (c *testCache) addGuix(name string, nar, narinfoNar []byte, refs ...*testPath) *testPath {
	c.t.Helper()
	hash := storeHash(c.storeDir + name)
	base := hash + "-" + name
	text := "StorePath: " + c.storeDir + "/" + base + "\n"
	var first string
	for _, comp := range []string{"gzip", "zstd"} {
		var b bytes.Buffer
		var w io.WriteCloser
		if comp == "gzip" {
			w = gzip.NewWriter(&b)
		} else {
			w, _ = zstd.NewWriter(&b)
		}
		w.Write(nar)
		w.Close()
		url := "nar/" + comp + "/" + narinfo.EscapeKey(base)
		c.write(narinfo.URLKey(url), b.Bytes())
		text += "URL: " + url + "\nCompression: " + comp + "\nFileSize: " + strconv.Itoa(b.Len()) + "\n"
		if first == "" {
			first = url
		}
	}
	text += "NarHash: " + fileHash(narinfoNar) + "\nNarSize: " + strconv.Itoa(len(narinfoNar)) + "\nReferences: "
	for i, r := range refs {
		if i > 0 {
			text += " "
		}
		text += r.base()
	}
	text += "\nSignature: 1;ci.guix.example;KHNpZ25hdHVyZSAKIChkYXRhIAogIChmbGFncyByZmM2OTc5KQogICkKKQo=\n"
	p := &testPath{hash: hash, name: name, storePath: c.storeDir + "/" + base, url: first, text: []byte(text)}
	c.write(hash+".narinfo", p.text)
	return p
}

// serve serves the cache's directory over HTTP on loopback.
func (c *testCache) serve() string {
	c.t.Helper()
	ts := httptest.NewServer(http.FileServer(http.Dir(c.dir)))
	c.t.Cleanup(ts.Close)
	return ts.URL
}
