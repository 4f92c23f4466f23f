package origin

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/internal/testutil"
)

// guixNar is a NAR file as Guix names it: by the store path it holds and
// its compression.
type guixNar struct {
	url  string // "nar/gzip/<escaped base name>"
	data []byte // the compressed file
	nar  []byte // what it holds
}

func newGuixNar(t *testing.T, compression, escapedBase, content string) guixNar {
	t.Helper()
	var b bytes.Buffer
	switch compression {
	case "gzip":
		z := gzip.NewWriter(&b)
		z.Write([]byte(content))
		z.Close()
	case "zstd":
		z, _ := zstd.NewWriter(&b)
		z.Write([]byte(content))
		z.Close()
	default:
		t.Fatalf("no %s here", compression)
	}
	return guixNar{url: "nar/" + compression + "/" + escapedBase, data: b.Bytes(), nar: []byte(content)}
}

func (g guixNar) narHash() string {
	sum := sha256.Sum256(g.nar)
	return "sha256:" + nixbase32.EncodeToString(sum[:])
}

// guixText is a narinfo of Guix for base listing files.
func guixText(base string, narHash string, narSize int, files ...guixNar) string {
	text := "StorePath: /gnu/store/" + base + "\n"
	for _, f := range files {
		comp := strings.Split(f.url, "/")[1]
		text += "URL: " + f.url + "\nCompression: " + comp + "\nFileSize: " + itoa(len(f.data)) + "\n"
	}
	return text + "NarHash: " + narHash + "\nNarSize: " + itoa(narSize) + "\nReferences: \n"
}

func TestServer_GuixNarFiles(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.StoreDir = "/gnu/store" })
	hash := storeHash("gtk")
	base := hash + "-gtk+-3.24"
	content := strings.Repeat("nix-archive-1 gtk+ ", 200)
	gz := newGuixNar(t, "gzip", hash+"-gtk%2B-3.24", content)
	zst := newGuixNar(t, "zstd", hash+"-gtk%2B-3.24", content)
	for _, f := range []guixNar{gz, zst} {
		if r := h.do(http.MethodPut, "/"+f.url, f.data); r.status != http.StatusOK {
			t.Fatalf("PUT %s: %d %q", f.url, r.status, r.body)
		}
		// Served back as uploaded, under the URL as Guix spells it.
		if r := h.do(http.MethodGet, "/"+f.url, nil); r.status != http.StatusOK || r.body != string(f.data) {
			t.Fatalf("GET %s = %d, %d bytes, want the %d bytes uploaded", f.url, r.status, len(r.body), len(f.data))
		}
	}
	// The file is kept under its decoded name, which the location records.
	var key string
	if err := h.db.QueryRow(t.Context(), `SELECT key FROM payload_location WHERE url = $1`, gz.url).Scan(&key); err != nil ||
		key != "nar/gzip/"+base {
		t.Fatalf("location key = %q, %v, want nar/gzip/%s", key, err, base)
	}

	t.Run("bad narinfos", func(t *testing.T) {
		h := h.in(t)
		before := h.snapshot()
		wrong := guixNar{url: gz.url, data: gz.data, nar: []byte("other")}
		for _, tt := range []struct {
			name, text, want string
		}{
			{"NarHash", guixText(base, wrong.narHash(), len(content), gz), "holds a NAR of " + gz.narHash()},
			{"NarSize", guixText(base, gz.narHash(), len(content)+1, gz, zst), "holds a NAR of"},
			{"FileSize", strings.Replace(guixText(base, gz.narHash(), len(content), gz), "FileSize: "+itoa(len(gz.data)),
				"FileSize: "+itoa(len(gz.data)+1), 1), "FileSize of " + gz.url},
			{"unescaped name", strings.Replace(guixText(base, gz.narHash(), len(content), gz), "%2B", "+", 1), "escaped as Guix escapes it"},
			{"not uploaded", guixText(base, gz.narHash(), len(content), newGuixNar(t, "gzip", hash+"-other", content)), "has not been uploaded"},
		} {
			checkError(t, h.do(http.MethodPut, "/"+hash+".narinfo", []byte(tt.text)), http.StatusBadRequest, tt.want)
		}
		h.unchanged(before)
	})

	text := guixText(base, gz.narHash(), len(content), gz, zst)
	if r := h.do(http.MethodPut, "/"+hash+".narinfo", []byte(text)); r.status != http.StatusOK {
		t.Fatalf("PUT narinfo: %d %q", r.status, r.body)
	}
	if r := h.do(http.MethodGet, "/"+hash+".narinfo", nil); r.status != http.StatusOK || !strings.HasPrefix(r.body, text) {
		t.Fatalf("GET narinfo = %d %q", r.status, r.body)
	}

	t.Run("uploaded again", func(t *testing.T) {
		h := h.in(t)
		before := h.snapshot()
		// The same bytes: accepted, nothing new.
		if r := h.do(http.MethodPut, "/"+gz.url, gz.data); r.status != http.StatusOK {
			t.Fatalf("PUT the same bytes again: %d %q", r.status, r.body)
		}
		// Other bytes under the same name: refused, the first kept.
		other := newGuixNar(t, "gzip", hash+"-gtk%2B-3.24", "another build of gtk+")
		checkError(t, h.do(http.MethodPut, "/"+other.url, other.data), http.StatusConflict, "other bytes are stored as "+gz.url)
		if r := h.do(http.MethodGet, "/"+gz.url, nil); r.body != string(gz.data) {
			t.Fatal("the stored file changed")
		}
		h.unchanged(before)
	})

	t.Run("bad files", func(t *testing.T) {
		h := h.in(t)
		before := h.snapshot()
		other := hash[:31] + "0-other"
		for _, tt := range []struct {
			name, url string
			body      []byte
			want      string
		}{
			{"not gzip", "nar/gzip/" + other, []byte(content), "not a gzip file"},
			{"truncated", "nar/gzip/" + other, gz.data[:len(gz.data)-4], "not a whole gzip file"},
			{"trailing bytes", "nar/zstd/" + other, append(bytes.Clone(zst.data), "tail"...), "zstd file"},
			{"gzip trailing bytes", "nar/gzip/" + other, append(bytes.Clone(gz.data), "tail"...), "gzip file"},
			{"zstd as gzip", "nar/gzip/" + other, zst.data, "not a gzip file"},
		} {
			checkError(t, h.do(http.MethodPut, "/"+tt.url, tt.body), http.StatusBadRequest, tt.want)
		}
		h.unchanged(before)
		var claims int
		if err := h.db.QueryRow(t.Context(), `SELECT count(*) FROM store_reservation`).Scan(&claims); err != nil || claims != 0 {
			t.Fatalf("reservations left = %d, %v, want 0", claims, err)
		}
	})
}

// TestServer_GuixUploadClaimsItsName checks that while a file whose name
// does not carry its hash is being uploaded, another upload of the name
// is refused, and that a claim its holder stopped renewing lapses.
func TestServer_GuixUploadClaimsItsName(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.StoreDir = "/gnu/store" })
	f := newGuixNar(t, "gzip", storeHash("slow")+"-slow", strings.Repeat("slow ", 1000))

	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, h.ts.URL+"/"+f.url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(f.data))
	req.Header.Set("Authorization", "Bearer "+h.token)
	done := make(chan response, 1)
	go func() {
		resp, err := h.ts.Client().Do(req)
		if err != nil {
			done <- response{body: err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- response{status: resp.StatusCode, body: string(b)}
	}()
	pw.Write(f.data[:10])
	claims := func() int {
		var n int
		if err := h.db.QueryRow(t.Context(), `SELECT count(*) FROM store_reservation WHERE url = $1`, f.url).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	testutil.Eventually(t, "the first upload's claim", time.Minute, func() bool { return claims() == 1 })
	checkError(t, h.do(http.MethodPut, "/"+f.url, f.data), http.StatusConflict, "another upload of "+f.url+" is in flight")

	pw.Write(f.data[10:])
	pw.Close()
	if r := <-done; r.status != http.StatusOK {
		t.Fatalf("first upload: %d %q", r.status, r.body)
	}
	if n := claims(); n != 0 {
		t.Fatalf("%d claims left after the upload was recorded", n)
	}

	// A claim left by a process that died lapses.
	g := newGuixNar(t, "gzip", storeHash("orphan")+"-orphan", "orphan")
	if _, err := h.db.Exec(t.Context(), `INSERT INTO store_reservation (store_id, bytes, holder, url, renewed_at)
		SELECT id, 1, 'dead-process', $1, now() - interval '1 hour' FROM store LIMIT 1`, g.url); err != nil {
		t.Fatal(err)
	}
	if r := h.do(http.MethodPut, "/"+g.url, g.data); r.status != http.StatusOK {
		t.Fatalf("PUT over a lapsed claim: %d %q", r.status, r.body)
	}
}
