package loadtest_test

import (
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/loadtest"
)

// The redirect ceiling answers every request as an edge redirects a NAR
// download: 302 to its Location, the edge's content type and body.
func TestCeiling_Redirect(t *testing.T) {
	const loc = "http://fra.example/nar/00000000000000000000000000000000.nar"
	base := startCeiling(t, loadtest.CeilingConfig{Redirect: loc})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(base + "/nar/0000000000000000000000000000000a.nar")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != loc || string(b) != "found\n" ||
		resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("answer %d %v %q", resp.StatusCode, resp.Header, b)
	}
	for _, cfg := range []loadtest.CeilingConfig{
		{Listen: "127.0.0.1:0", Redirect: loc, Miss: true},
		{Listen: "127.0.0.1:0", Redirect: loc, Sink: true},
		{Listen: "127.0.0.1:0", Redirect: "/nar/x.nar"},
		{Listen: "127.0.0.1:0", Redirect: "http://fra.example/a\r\nSet-Cookie: x"},
	} {
		if _, err := loadtest.NewCeiling(cfg); err == nil {
			t.Errorf("a ceiling of %+v", cfg)
		}
	}
}

// placedServer answers NAR requests as an edge would with two stores and
// a GeoIP database placing 127.1.0.0/16 in Frankfurt: a 302 to Frankfurt
// for a client there, to Singapore for any other; it remembers the client
// addresses it saw.
func placedServer(t *testing.T) (string, func() []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		seen[host] = true
		mu.Unlock()
		if !strings.HasPrefix(r.URL.Path, "/nar/") {
			http.NotFound(w, r)
			return
		}
		store := "http://sin.example"
		if strings.HasPrefix(host, "127.1.") {
			store = "http://fra.example"
		}
		http.Redirect(w, r, store+r.URL.Path, http.StatusFound)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for h := range seen {
			out = append(out, h)
		}
		return out
	}
}

// lookup --nar counts a redirect right only when it points where
// WantLocation says, and its connections come from Source.
func TestLookup_NARFromSource(t *testing.T) {
	url, seen := placedServer(t)
	run := func(source, want string) *loadtest.LookupResult {
		t.Helper()
		res, err := loadtest.Lookup(t.Context(), loadtest.LookupConfig{
			URLs: []string{url}, Keys: 100, Seed: 1, HitRatio: 1, Connections: 2, Requests: 50, Duration: 30 * time.Second,
			NAR: true, WantLocation: want, Source: source,
		})
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
	if r := run("127.1.0.1", "http://fra.example/nar/"); r.Errors != 0 || r.Hits.Right != 50 || r.Statuses["302"] != 50 {
		t.Errorf("from Frankfurt, wanting Frankfurt: %+v", r)
	}
	if got := seen(); len(got) != 1 || got[0] != "127.1.0.1" {
		t.Errorf("the server saw clients %v, want 127.1.0.1 alone", got)
	}
	if r := run("", "http://fra.example/"); r.Hits.Wrong != 50 || r.Errors != 50 {
		t.Errorf("from 127.0.0.1 (Singapore), wanting Frankfurt: %+v", r)
	}
	if r := run("", ""); r.Errors != 0 {
		t.Errorf("any redirect wanted: %+v", r)
	}
}

// Bad settings of the NAR runs are refused, naming the field.
func TestLookup_NARConfigRefused(t *testing.T) {
	base := loadtest.LookupConfig{URLs: []string{"http://127.0.0.1:1"}, Keys: 1, Duration: time.Second}
	for _, tc := range []struct {
		name, field string
		change      func(*loadtest.LookupConfig)
	}{
		{"location without NAR", "WantLocation", func(c *loadtest.LookupConfig) { c.WantLocation = "http://fra.example/" }},
		{"source not loopback", "Source", func(c *loadtest.LookupConfig) { c.Source = "192.0.2.1" }},
		{"source not an address", "Source", func(c *loadtest.LookupConfig) { c.Source = "fra" }},
	} {
		c := base
		tc.change(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want an error naming %s", tc.name, err, tc.field)
		}
	}
	w := loadtest.WrkConfig{URLs: []string{"http://127.0.0.1:1"}, Keys: 1, Duration: time.Second, Headers: []string{"no colon"}}
	if err := w.Validate(); err == nil || !strings.Contains(err.Error(), "no colon") {
		t.Errorf("wrk with a header without a name: %v", err)
	}
}

// payloads writes files whose recorded hash and size are theirs, each with
// a good location in the local store; locations records a copy of every
// file in every store named, and refuses a store that is not there.
func TestPayloadsAndLocations(t *testing.T) {
	url := pgtest.NewOriginDatabase(t)
	conn := pgtest.Connect(t, url)
	ctx := t.Context()
	dir := t.TempDir()
	if _, err := conn.Exec(ctx, `INSERT INTO store (name, kind, base_url) VALUES ('src', 'local', 'http://127.0.0.1:1'),
		('fra', 'http', 'http://fra.example'), ('sin', 'http', 'http://sin.example')`); err != nil {
		t.Fatal(err)
	}
	res, err := loadtest.Payloads(ctx, loadtest.PayloadsConfig{DatabaseURL: url, Store: "src", Dir: dir, Name: "small",
		Count: 20, MinSize: 1, MaxSize: 5000, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT f.url, f.file_hash, f.file_size, l.key, l.size, l.state FROM nar_file f
		JOIN payload_location l ON l.url = f.url JOIN store s ON s.id = l.store_id AND s.name = 'src'`)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var total int64
	for rows.Next() {
		var u, hash, key, state string
		var size, locSize int64
		if err := rows.Scan(&u, &hash, &size, &key, &locSize, &state); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, key))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if key != u || int64(len(b)) != size || locSize != size || state != "good" || hash != "sha256:"+nixbase32.EncodeToString(sum[:]) {
			t.Errorf("%s: key %s, %d bytes on disk, recorded %d (location %d, %s), hash %s", u, key, len(b), size, locSize, state, hash)
		}
		n++
		total += size
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if n != 20 || res.Files != 20 || res.Bytes != total {
		t.Errorf("%d files recorded, result %+v, %d bytes", n, res, total)
	}

	loc, err := loadtest.Locations(ctx, loadtest.LocationsConfig{DatabaseURL: url, Count: 30, Seed: 1, Stores: []string{"sin", "fra"}})
	if err != nil {
		t.Fatal(err)
	}
	var files, locs int
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT l.url), count(*) FROM payload_location l JOIN store s ON s.id = l.store_id
		WHERE s.name IN ('fra', 'sin') AND l.key = l.url`).Scan(&files, &locs); err != nil {
		t.Fatal(err)
	}
	if files != 30 || locs != 60 || loc.Locations != 60 {
		t.Errorf("%d files with %d locations in fra and sin; result %+v", files, locs, loc)
	}
	var first string
	conn.QueryRow(ctx, "SELECT url FROM nar_file WHERE url = $1", "nar/"+loadtest.Hash(1, 0)+".nar").Scan(&first)
	if first == "" {
		t.Error("the first file is not named by the hash lookup asks for")
	}
	if _, err := loadtest.Locations(ctx, loadtest.LocationsConfig{DatabaseURL: url, Count: 1, Seed: 2, Stores: []string{"ams"}}); err == nil ||
		!strings.Contains(err.Error(), `"ams"`) {
		t.Errorf("locations in a store that is not there: %v", err)
	}
	if _, err := loadtest.Payloads(ctx, loadtest.PayloadsConfig{DatabaseURL: url, Store: "fra", Dir: dir, Name: "x",
		Count: 1, MinSize: 1, MaxSize: 1}); err == nil || !strings.Contains(err.Error(), `"fra"`) {
		t.Errorf("payloads into an http store: %v", err)
	}
}
