package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/edge"
	"github.com/narthex-cache/narthex/loadtest"
	"github.com/narthex-cache/narthex/replica/replicafill"
)

// rawAnswerFrom is rawAnswer from a chosen local address (any, when empty).
func rawAnswerFrom(t *testing.T, source, addr, path string) (status string, header []string, bodyLen int) {
	t.Helper()
	var d net.Dialer
	if source != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(source)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		header = append(header, k+": "+strings.Join(v, ","))
	}
	slices.Sort(header)
	return resp.Status, header, int(resp.ContentLength)
}

// The redirect ceiling answers as an edge redirects a NAR download to the
// nearest of two stores by GeoIP, given the Location the edge sends: the
// same status, headers and body size, so that the benchmark's ratio
// measures the edge's ranking and nothing it sends differently. This is
// the setting of bench.sh's redirects: the files loadtest locations
// records, the stores' coordinates, loadtest geoip's database, a client
// at 127.1.0.1.
func TestCeiling_RedirectsAsTheEdge(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "geo.mmdb")
	if err := loadtest.WriteGeoIP(db); err != nil {
		t.Fatal(err)
	}
	url := "nar/" + loadtest.Hash(1, 0) + ".nar"
	addr := serveTestEdge(t, edge.Config{GeoIPDB: db},
		replicafill.Row{Table: "store", Cols: map[string]string{"id": "1", "name": "sin", "kind": "http", "base_url": "http://sin.example",
			"latitude": fmt.Sprint(loadtest.GeoAsia.Latitude), "longitude": fmt.Sprint(loadtest.GeoAsia.Longitude)}},
		replicafill.Row{Table: "store", Cols: map[string]string{"id": "2", "name": "fra", "kind": "http", "base_url": "http://fra.example",
			"latitude": fmt.Sprint(loadtest.GeoEurope.Latitude), "longitude": fmt.Sprint(loadtest.GeoEurope.Longitude)}},
		replicafill.Row{Table: "payload_location", Cols: map[string]string{"url": url, "store_id": "1", "key": url}},
		replicafill.Row{Table: "payload_location", Cols: map[string]string{"url": url, "store_id": "2", "key": url}},
	)

	es, eh, el := rawAnswerFrom(t, "127.1.0.1", addr, "/"+url)
	want := "Location: http://fra.example/" + url
	if !slices.Contains(eh, want) {
		t.Fatalf("the edge answered %s %q, without %q", es, eh, want)
	}
	c, err := loadtest.NewCeiling(loadtest.CeilingConfig{Listen: "127.0.0.1:0", Redirect: "http://fra.example/" + url})
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(t.Context())
	cdone := make(chan struct{})
	go func() { defer close(cdone); c.Run(cctx) }()
	t.Cleanup(func() { ccancel(); <-cdone })
	cs, ch, cl := rawAnswerFrom(t, "127.1.0.1", c.Addr(), "/"+url)
	if es != cs || !slices.Equal(eh, ch) || el != cl {
		t.Errorf("edge: %s %q, %d bytes\nceiling: %s %q, %d bytes", es, eh, el, cs, ch, cl)
	}
}

// Bad command lines of the load tool's stores modes fail with one line
// naming the flag, before any load is sent or anything written.
func TestLoadtestStoresBadCommandLine(t *testing.T) {
	t.Parallel()
	db := "postgres://127.0.0.1:1/x"
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"loadtest", "lookup", "--url", "http://127.0.0.1:1", "--keys", "1", "--want-location", "http://fra.example/"}, "--want-location is for --nar only"},
		{[]string{"loadtest", "lookup", "--url", "http://127.0.0.1:1", "--keys", "1", "--nar", "--source", "192.0.2.1"}, `--source "192.0.2.1"`},
		{[]string{"loadtest", "wrk", "--url", "http://127.0.0.1:1", "--keys", "1", "--nar", "--header", "nocolon"}, `--header "nocolon"`},
		{[]string{"loadtest", "ceiling", "--redirect", "http://fra.example/x.nar", "--miss"}, "--redirect excludes --sink and --miss"},
		{[]string{"loadtest", "locations", "--database-url", db, "--stores", "fra"}, "--count 0"},
		{[]string{"loadtest", "locations", "--database-url", db, "--count", "5"}, "--stores is required"},
		{[]string{"loadtest", "payloads", "--database-url", db, "--store", "src", "--dir", dir, "--name", "s", "--count", "1", "--min-size", "1XB"}, `--min-size "1XB"`},
		{[]string{"loadtest", "filecache", "--count", "1"}, "--dir is required"},
		{[]string{"loadtest", "filecache", "--dir", filepath.Join(dir, "c"), "--count", "1", "--size", "100MiB"}, `--size "100MiB"`},
		{[]string{"loadtest", "geoip"}, "--out is required"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[1:], " "), func(t *testing.T) {
			out, errOut, code := narthex(t, tt.args...)
			if code != 1 || !strings.Contains(errOut, tt.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 || out != "" {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 1 and one line with %q", code, out, errOut, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "c")); err == nil {
		t.Error("a refused filecache wrote its directory")
	}
}
