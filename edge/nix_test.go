package edge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/geotest"
	"github.com/narthex-cache/narthex/internal/nixtest"
	"github.com/narthex-cache/narthex/replica"
)

// The real Nix client substitutes a closure through the edge, each NAR
// from the store nearest to it: two binary caches written by
// nix copy --to file://, served on loopback as stores in Frankfurt and
// Singapore, and clients that reach the edge from Europe and from Asia.
func TestServer_NixSubstitutesFromTheNearestStore(t *testing.T) {
	t.Parallel()
	n := nixtest.New(t)
	c := n.Build("c")
	closure := n.Closure(c)
	cache := filepath.Join(n.Dir, "cache")
	n.Must("nix", "copy", "--store", n.Store("r1"), "--to", "file://"+cache, c)

	// The Singapore store has the higher priority: only the distance
	// sends European clients to Frankfurt.
	fraHits, fraURL := fileServer(t, cache)
	sinHits, sinURL := fileServer(t, cache)
	rows := []row{
		store("1", "fra", fraURL, fmt.Sprint(geotest.FrankfurtLat), fmt.Sprint(geotest.FrankfurtLon), "10"),
		store("2", "sin", sinURL, fmt.Sprint(geotest.SingaporeLat), fmt.Sprint(geotest.SingaporeLon), "20"),
	}
	narinfos, err := filepath.Glob(filepath.Join(cache, "*.narinfo"))
	if err != nil || len(narinfos) != len(closure) {
		t.Fatalf("the cache holds narinfos %v (%v), want %d", narinfos, err, len(closure))
	}
	for _, p := range narinfos {
		body, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row{"narinfo", map[string]string{"hash": strings.TrimSuffix(filepath.Base(p), ".narinfo"), "body": string(body)}})
		url := narinfoURL(t, string(body))
		for _, id := range []string{"1", "2"} {
			rows = append(rows, row{"payload_location", map[string]string{"url": url, "store_id": id, "key": url}})
		}
	}
	edgeAddr, _ := serve(t, Config{GeoIPDB: geoDB(t)}, &source{rep: replicaWith(t, replica.Options{MemoryCacheBytes: 1 << 20}, rows...)})

	for _, tc := range []struct {
		client, store   string
		hits, elsewhere *atomic.Int64
	}{
		{inEurope, "r2", fraHits, sinHits},
		{inAsia, "r3", sinHits, fraHits},
	} {
		before, beforeElsewhere := tc.hits.Load(), tc.elsewhere.Load()
		// Nix cannot choose its source address: a forwarder connects to
		// the edge from the client's.
		edge := "http://" + forwarder(t, edgeAddr, tc.client)
		n.FreshCache().Must("nix", "copy", "--option", "require-sigs", "false", "--from", edge, "--to", n.Store(tc.store), c)
		for _, p := range closure {
			if _, err := os.Stat(filepath.Join(n.Dir, tc.store, p)); err != nil {
				t.Errorf("from %s: %s not substituted: %v", tc.client, p, err)
			}
		}
		if got := tc.hits.Load() - before; got != int64(len(closure)) {
			t.Errorf("from %s: the nearest store served %d NARs, want %d", tc.client, got, len(closure))
		}
		if got := tc.elsewhere.Load() - beforeElsewhere; got != 0 {
			t.Errorf("from %s: the far store served %d NARs, want none", tc.client, got)
		}
	}
}

// narinfoURL is the URL field of a narinfo.
func narinfoURL(t *testing.T, body string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if url, ok := strings.CutPrefix(sc.Text(), "URL: "); ok {
			return url
		}
	}
	t.Fatalf("narinfo without URL:\n%s", body)
	return ""
}

// fileServer serves dir on loopback until the test ends, counting the NAR
// downloads.
func fileServer(t *testing.T, dir string) (nars *atomic.Int64, url string) {
	t.Helper()
	nars = new(atomic.Int64)
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/nar/") {
			nars.Add(1)
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return nars, srv.URL
}

// forwarder listens on loopback until the test ends and carries each
// connection to addr from the address from, and returns its address.
func forwarder(t *testing.T, addr, from string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				in.Close()
				continue
			}
			context.AfterFunc(ctx, func() { in.Close(); out.Close() })
			for _, p := range [][2]net.Conn{{in, out}, {out, in}} {
				wg.Go(func() {
					_, err := io.Copy(p[1], p[0])
					if err == nil || errors.Is(err, net.ErrClosed) {
						p[1].(*net.TCPConn).CloseWrite()
					}
				})
			}
		}
	})
	return ln.Addr().String()
}
