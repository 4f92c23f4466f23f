package importer_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/narthex-cache/narthex/importer"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/narinfo"
)

// checkSummary checks the counts of sum and the store paths it refused.
func checkSummary(t *testing.T, sum *importer.Summary, imported, present int, refused ...string) {
	t.Helper()
	var got []string
	for _, r := range sum.Refused {
		got = append(got, r.StorePath)
	}
	slices.Sort(got)
	slices.Sort(refused)
	if sum.Imported != imported || sum.AlreadyPresent != present || !slices.Equal(got, refused) {
		t.Fatalf("summary: imported %d, already present %d, refused %q (%+v); want %d, %d, %q",
			sum.Imported, sum.AlreadyPresent, got, sum.Refused, imported, present, refused)
	}
}

// checkServed checks that the origin serves each path's narinfo as the
// source has it with the origin's Sig line appended, and its NAR file
// byte for byte.
func checkServed(t *testing.T, o *testOrigin, c *testCache, paths ...*testPath) {
	t.Helper()
	for _, p := range paths {
		status, body := o.get(p.hash + ".narinfo")
		if status != http.StatusOK || string(body) != o.signed(p.text) {
			t.Errorf("%s.narinfo: %d %q, want 200 %q", p.hash, status, body, o.signed(p.text))
		}
		want, err := os.ReadFile(filepath.Join(c.dir, narinfo.URLKey(p.url)))
		if err != nil {
			t.Fatal(err)
		}
		if status, body := o.get(p.url); status != http.StatusOK || !bytes.Equal(body, want) {
			t.Errorf("%s: %d, %d bytes, want 200 and the source's %d bytes", p.url, status, len(body), len(want))
		}
	}
}

func TestRun_FileCache(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, narinfo.NixStoreDir)
	c := newTestCache(t, narinfo.NixStoreDir)
	a := c.add("a")
	b := c.add("b", a)
	d := c.add("d", a, b)
	x := c.add("x")

	var last importer.Progress
	cfg := o.config("file://" + c.dir)
	cfg.Progress = func(p importer.Progress) { last = p }
	sum, err := importer.Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkSummary(t, sum, 4, 0)
	if sum.Files != 4 || sum.Bytes == 0 {
		t.Errorf("summary counts %d files, %d bytes; want 4 files", sum.Files, sum.Bytes)
	}
	if want := (importer.Progress{Total: 4, Done: 4, Imported: 4, Bytes: sum.Bytes}); last != want {
		t.Errorf("last progress %+v, want %+v", last, want)
	}
	checkServed(t, o, c, a, b, d, x)

	// Run again: everything is there already, nothing is sent again.
	before := o.records()
	sum, err = importer.Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkSummary(t, sum, 0, 4)
	if sum.Files != 0 || o.records() != before {
		t.Errorf("rerun uploaded %d files; records %s, were %s", sum.Files, o.records(), before)
	}

	// A plain directory path is a source too, and paths narrow it to
	// their closures.
	o2 := newOrigin(t, narinfo.NixStoreDir)
	sum, err = importer.Run(t.Context(), o2.config(c.dir, b.storePath))
	if err != nil {
		t.Fatal(err)
	}
	checkSummary(t, sum, 2, 0)
	checkServed(t, o2, c, a, b)
	if status, _ := o2.get(d.hash + ".narinfo"); status != http.StatusNotFound {
		t.Errorf("%s outside the closure asked for: %d, want 404", d.storePath, status)
	}
}

func TestRun_HTTPCacheClosure(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, narinfo.NixStoreDir)
	c := newTestCache(t, narinfo.NixStoreDir)
	a := c.add("a")
	b := c.add("b", a)
	e := c.add("e", a, b)
	other := c.add("other")

	src := c.serve()
	sum, err := importer.Run(t.Context(), o.config(src+"/", e.base()))
	if err != nil {
		t.Fatal(err)
	}
	checkSummary(t, sum, 3, 0)
	checkServed(t, o, c, a, b, e)
	if status, _ := o.get(other.hash + ".narinfo"); status != http.StatusNotFound {
		t.Errorf("path outside the closure imported: %d", status)
	}

	// Again, by hash: the path is there, so is its closure.
	sum, err = importer.Run(t.Context(), o.config(src, e.hash))
	if err != nil {
		t.Fatal(err)
	}
	checkSummary(t, sum, 0, 1)

	// An HTTP cache cannot be listed: it needs paths.
	if _, err := importer.Run(t.Context(), o.config(src)); err == nil || !strings.Contains(err.Error(), "give the store paths") {
		t.Errorf("HTTP source without paths: %v", err)
	}
	// A path that is not a store path is named in the error.
	if _, err := importer.Run(t.Context(), o.config(src, "/gnu/store/"+e.base())); err == nil || !strings.Contains(err.Error(), "/gnu/store/"+e.base()) {
		t.Errorf("path of another store directory: %v", err)
	}
}

func TestRun_RefusesMismatchedNar(t *testing.T) {
	t.Parallel()
	for _, source := range []string{"file", "http"} {
		t.Run(source, func(t *testing.T) {
			t.Parallel()
			o := newOrigin(t, narinfo.NixStoreDir)
			c := newTestCache(t, narinfo.NixStoreDir)
			a := c.add("a")
			bad := c.add("bad", a)
			top := c.add("top", bad)
			x := c.add("x")
			// bad's NAR file no longer holds the bytes its narinfo names.
			c.write(bad.url, []byte("something else entirely"))

			url := "file://" + c.dir
			if source == "http" {
				url = c.serve()
			}
			sum, err := importer.Run(t.Context(), o.config(url, a.storePath, top.storePath, x.storePath))
			if err != nil {
				t.Fatal(err)
			}
			checkSummary(t, sum, 2, 0, bad.storePath, top.storePath)
			reasons := map[string]string{}
			for _, r := range sum.Refused {
				reasons[r.StorePath] = r.Reason
			}
			if r := reasons[bad.storePath]; !strings.Contains(r, bad.url) || !strings.Contains(r, "hash to") {
				t.Errorf("reason for %s: %q, want the file and its hash", bad.storePath, r)
			}
			if r := reasons[top.storePath]; !strings.Contains(r, bad.storePath) {
				t.Errorf("reason for %s: %q, want the refused path it references", top.storePath, r)
			}
			checkServed(t, o, c, a, x)
			// Nothing of the refused paths is recorded or stored.
			if n := o.count("SELECT count(*) FROM nar_file WHERE url = $1", bad.url); n != 0 {
				t.Errorf("the mismatched NAR file is recorded")
			}
			for _, p := range []*testPath{bad, top} {
				if n := o.count("SELECT count(*) FROM narinfo WHERE hash = $1", p.hash); n != 0 {
					t.Errorf("%s is recorded", p.storePath)
				}
			}
			if files := o.narFilesIn(); len(files) != 2 {
				t.Errorf("local store holds %q, want the 2 imported files", files)
			}
		})
	}
}

func TestRun_NotACache(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, narinfo.NixStoreDir)
	empty := t.TempDir()
	noNarinfos := newTestCache(t, narinfo.NixStoreDir)
	noStoreDir := t.TempDir()
	os.WriteFile(filepath.Join(noStoreDir, "nix-cache-info"), []byte("<html>hello</html>\n"), 0o644)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o644)
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)

	before := o.records()
	for _, tt := range []struct {
		name, source string
		noPayload    bool
	}{
		{"empty directory", empty, false},
		{"empty directory URL", "file://" + empty, false},
		{"no narinfos", noNarinfos.dir, false},
		{"no StoreDir", noStoreDir, false},
		{"a file", file, false},
		{"URL answering 404", notFound.URL, false},
		{"URL answering 404, no payload", notFound.URL, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := o.config(tt.source)
			if tt.source == notFound.URL {
				cfg.Paths = []string{storeHash("x")}
			}
			if tt.noPayload {
				cfg.NoPayload, cfg.DB = true, o.db
			}
			_, err := importer.Run(t.Context(), cfg)
			if !errors.Is(err, importer.ErrNotCache) || !strings.Contains(err.Error(), tt.source) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line saying %s is not a binary cache", err, tt.source)
			}
		})
	}
	if after := o.records(); after != before {
		t.Errorf("records changed from %s to %s", before, after)
	}
}

func TestRun_Guix(t *testing.T) {
	t.Parallel()
	const gnu = "/gnu/store"
	o := newOrigin(t, gnu)
	c := newTestCache(t, gnu)
	dep := c.add("glibc-2.35")

	// A narinfo as guix publish serves it: a gzip and an uncompressed
	// file, no FileHash, no System, signed by a Signature line over the
	// text above it.
	nar := []byte("NAR of hello-2.12.1\n")
	gz := []byte("gzip of the NAR of hello-2.12.1\n")
	hash := storeHash("hello")
	name := "hello-2.12.1"
	gzURL := "nar/" + strings.TrimPrefix(fileHash(gz), "sha256:") + ".nar.gz"
	narURL := "nar/" + strings.TrimPrefix(fileHash(nar), "sha256:") + ".nar"
	text := []byte("StorePath: " + gnu + "/" + hash + "-" + name + "\n" +
		"URL: " + gzURL + "\nCompression: gzip\nFileSize: " + strconv.Itoa(len(gz)) + "\n" +
		"URL: " + narURL + "\nCompression: none\nFileSize: " + strconv.Itoa(len(nar)) + "\n" +
		"NarHash: " + fileHash(nar) + "\nNarSize: " + strconv.Itoa(len(nar)) + "\n" +
		"References: " + dep.base() + " " + hash + "-" + name + "\n" +
		"Deriver: " + storeHash("drv") + "-" + name + ".drv\n" +
		"Signature: 1;ci.guix.example;KHNpZ25hdHVyZSAKIChkYXRhIAogIChmbGFncyByZmM2OTc5KQogIChoYXNoIHNoYTI1NiAjMDAjKQogICkKKQo=\n")
	c.write(gzURL, gz)
	c.write(narURL, nar)
	c.write(hash+".narinfo", text)
	hello := &testPath{hash: hash, name: name, storePath: gnu + "/" + hash + "-" + name, url: gzURL, text: text}

	// Guix's own names, nar/gzip/<base name> and the like, escaped: each
	// file's NAR is checked against NarHash and NarSize.
	guile := c.addGuix("guile+-3.0.9", []byte("NAR of guile"), []byte("NAR of guile"), dep)
	bad := c.addGuix("bad", []byte("NAR of bad"), []byte("what its narinfo says"))

	sum, err := importer.Run(t.Context(), o.config("file://"+c.dir))
	if err != nil {
		t.Fatal(err)
	}
	checkSummary(t, sum, 3, 0, bad.storePath)
	if r := sum.Refused[0].Reason; !strings.Contains(r, "holds a NAR of "+fileHash([]byte("NAR of bad"))) {
		t.Errorf("reason %q does not say what the file holds", r)
	}
	checkServed(t, o, c, dep, hello, guile)
	if status, body := o.get(narURL); status != http.StatusOK || !bytes.Equal(body, nar) {
		t.Errorf("%s: %d %q", narURL, status, body)
	}
	if n := o.count("SELECT count(*) FROM nar_file WHERE url LIKE $1", "nar/%/"+bad.base()); n != 0 {
		t.Errorf("%d NAR files of the refused path are recorded", n)
	}

	// The same from an HTTP cache, adopted where it is: the locations
	// are the files' keys there.
	o2 := newOrigin(t, gnu)
	cfg := o2.config(c.serve(), guile.storePath)
	cfg.NoPayload, cfg.DB = true, o2.db
	if sum, err := importer.Run(t.Context(), cfg); err != nil || sum.Imported != 2 {
		t.Fatalf("adopting the HTTP cache: %+v, %v", sum, err)
	}
	if n := o2.count("SELECT count(*) FROM payload_location WHERE key = $1 AND url = $2",
		"nar/gzip/"+guile.base(), "nar/gzip/"+strings.ReplaceAll(guile.base(), "+", "%2B")); n != 1 {
		t.Errorf("%d locations of the gzip file under its key, want 1", n)
	}
	if status, _ := o2.get(guile.hash + ".narinfo"); status != http.StatusOK {
		t.Errorf("adopted narinfo: %d", status)
	}

	// A Guix cache does not go into a Nix origin, and the other way
	// round; nothing is recorded.
	nixOrigin := newOrigin(t, narinfo.NixStoreDir)
	before := nixOrigin.records()
	_, err = importer.Run(t.Context(), nixOrigin.config(c.dir))
	if err == nil || !strings.Contains(err.Error(), "/gnu/store") {
		t.Errorf("Guix cache into a Nix origin: %v", err)
	}
	cfg = o.config(c.dir)
	cfg.StoreDir = narinfo.NixStoreDir
	if _, err := importer.Run(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "has store directory /gnu/store, not /nix/store") {
		t.Errorf("--store-dir other than the source's: %v", err)
	}
	if after := nixOrigin.records(); after != before {
		t.Errorf("records changed from %s to %s", before, after)
	}
}

func TestRun_NoPayload(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, narinfo.NixStoreDir)
	c := newTestCache(t, narinfo.NixStoreDir)
	a := c.add("a")
	b := c.add("b", a)
	bad := c.add("bad", a)
	c.write(bad.url, []byte("not the bytes"))
	src := c.serve()

	cfg := o.config(src, b.storePath, bad.storePath)
	cfg.NoPayload, cfg.DB = true, o.db
	sum, err := importer.Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkSummary(t, sum, 2, 0, bad.storePath)
	wantStore := strings.NewReplacer(".", "-", ":", "-").Replace(strings.TrimPrefix(src, "http://"))
	if sum.Store != wantStore {
		t.Errorf("store %q, want %q", sum.Store, wantStore)
	}
	if files := o.narFilesIn(); len(files) != 0 {
		t.Errorf("NAR bytes were uploaded: %q", files)
	}
	var kind, baseURL string
	var readOnly bool
	if err := o.db.QueryRow(t.Context(), "SELECT kind, base_url, read_only FROM store WHERE name = $1", sum.Store).Scan(&kind, &baseURL, &readOnly); err != nil {
		t.Fatal(err)
	}
	if kind != "http" || baseURL != src || !readOnly {
		t.Errorf("store is %s at %s, read_only %v; want a read-only http store at %s", kind, baseURL, readOnly, src)
	}
	rows, err := o.db.Query(t.Context(), `SELECT l.key, l.state, l.size FROM payload_location l JOIN store s ON s.id = l.store_id
		WHERE s.name = $1 ORDER BY l.key`, sum.Store)
	if err != nil {
		t.Fatal(err)
	}
	type loc struct {
		Key, State string
		Size       int64
	}
	var got []loc
	for rows.Next() {
		var l loc
		if err := rows.Scan(&l.Key, &l.State, &l.Size); err != nil {
			t.Fatal(err)
		}
		got = append(got, l)
	}
	var want []loc
	for _, p := range []*testPath{a, b} {
		st, err := os.Stat(filepath.Join(c.dir, p.url))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, loc{p.url, "good", st.Size()})
	}
	slices.SortFunc(want, func(x, y loc) int { return strings.Compare(x.Key, y.Key) })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("locations (-want +got):\n%s", diff)
	}
	for _, p := range []*testPath{a, b} {
		if status, body := o.get(p.hash + ".narinfo"); status != http.StatusOK || string(body) != o.signed(p.text) {
			t.Errorf("%s.narinfo: %d %q", p.hash, status, body)
		}
	}
	if n := o.count("SELECT count(*) FROM nar_file WHERE url = $1", bad.url); n != 0 {
		t.Errorf("the mismatched NAR file is recorded")
	}

	// Again: the store is reused and everything is there (b, and a,
	// which bad references).
	sum, err = importer.Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkSummary(t, sum, 0, 2, bad.storePath)
	if n := o.count("SELECT count(*) FROM store WHERE kind = 'http'"); n != 1 {
		t.Errorf("%d http stores, want 1", n)
	}

	// A store name that is taken by another store is refused.
	before := o.records()
	cfg.StoreName = "local"
	if _, err := importer.Run(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), `store "local" exists`) {
		t.Errorf("store name of the local store: %v", err)
	}
	if after := o.records(); after != before {
		t.Errorf("records changed from %s to %s", before, after)
	}
}

// TestRun_Interrupted cancels an import while a NAR download hangs: Run
// returns with what it did, records nothing of the unfinished paths, and
// a second run imports the rest.
func TestRun_Interrupted(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, narinfo.NixStoreDir)
	c := newTestCache(t, narinfo.NixStoreDir)
	a := c.add("a")
	slow := c.add("slow", a)
	top := c.add("top", slow)
	x := c.add("x")

	hang := make(chan struct{})
	files := http.FileServer(http.Dir(c.dir))
	var hanging atomic.Bool
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/"+slow.url {
			select {
			case <-hang:
			default:
				hanging.Store(true)
				select {
				case <-hang:
				case <-r.Context().Done():
					return
				}
			}
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	var sum *importer.Summary
	var err error
	go func() {
		defer close(done)
		sum, err = importer.Run(ctx, o.config(ts.URL, top.storePath, x.storePath))
	}()
	testutil.Eventually(t, "the NAR download to hang", time.Minute, func() bool { return hanging.Load() })
	testutil.Eventually(t, "a and x imported", time.Minute, func() bool {
		return o.count("SELECT count(*) FROM narinfo WHERE hash = ANY ($1)", []string{a.hash, x.hash}) == 2
	})
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Run did not return within a minute of its context ending")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	checkSummary(t, sum, 2, 0)
	for _, p := range []*testPath{slow, top} {
		if n := o.count("SELECT count(*) FROM narinfo WHERE hash = $1", p.hash); n != 0 {
			t.Errorf("%s recorded by an interrupted import", p.storePath)
		}
	}

	close(hang)
	sum, err = importer.Run(t.Context(), o.config(ts.URL, top.storePath, x.storePath))
	if err != nil {
		t.Fatal(err)
	}
	checkSummary(t, sum, 2, 2)
	checkServed(t, o, c, a, slow, top, x)
}

// TestRun_BadToken checks that a token the origin refuses stops the
// import before anything is recorded, even a store of --no-payload.
func TestRun_BadToken(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, narinfo.NixStoreDir)
	c := newTestCache(t, narinfo.NixStoreDir)
	a := c.add("a")
	before := o.records()
	for _, noPayload := range []bool{false, true} {
		cfg := o.config(c.serve(), a.storePath)
		cfg.Token = "narthex_not_a_token"
		cfg.NoPayload, cfg.DB = noPayload, o.db
		if _, err := importer.Run(t.Context(), cfg); !errors.Is(err, importer.ErrUnauthorized) {
			t.Errorf("no payload %v: %v, want ErrUnauthorized", noPayload, err)
		}
	}
	if after := o.records(); after != before {
		t.Errorf("records changed from %s to %s", before, after)
	}
}
