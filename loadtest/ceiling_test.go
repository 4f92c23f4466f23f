package loadtest_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/narthex-cache/narthex/loadtest"
)

// A sink looks like an empty cache that takes every upload.
func TestCeiling_Sink(t *testing.T) {
	c, err := loadtest.NewCeiling(loadtest.CeilingConfig{Listen: "127.0.0.1:0", Sink: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *loadtest.CeilingResult, 1)
	go func() {
		res, err := c.Run(ctx)
		if err != nil {
			t.Errorf("sink: %v", err)
		}
		done <- res
	}()
	base := "http://" + c.Addr()
	nar := strings.Repeat("x", 1<<20) // far above a lookup's body limit
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/nix-cache-info", "", 200, "StoreDir: /nix/store\n"},
		{"GET", "/0000000000000000000000000000000a.narinfo", "", 404, ""},
		{"HEAD", "/nar/0000000000000000000000000000000000000000000000000000.nar.xz", "", 404, ""},
		{"PUT", "/nar/0000000000000000000000000000000000000000000000000000.nar.xz", nar, 200, ""},
		{"PUT", "/0000000000000000000000000000000a.narinfo", "StorePath: x\n", 200, ""},
		{"GET", "/0000000000000000000000000000000a.narinfo", "", 404, ""},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.HasPrefix(string(b), tc.want) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, b, tc.status, tc.want)
		}
	}
	cancel()
	if res := <-done; res == nil || res.Requests != 6 {
		t.Errorf("sink served %+v, want 6 requests", res)
	}
}

// The hit and miss ceilings answer as an edge answers a hit and a miss with
// its default settings: same status, headers and, for a miss, body.
func TestCeiling_HitAndMiss(t *testing.T) {
	for _, tc := range []struct {
		name     string
		miss     bool
		status   int
		typ, cc  string
		bodySize int
	}{
		{"hit", false, 200, "text/x-nix-narinfo", "public, max-age=3600", len(loadtest.TypicalBody())},
		{"miss", true, 404, "text/plain; charset=utf-8", "public, max-age=60", len("not found\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := startCeiling(t, loadtest.CeilingConfig{Miss: tc.miss})
			resp, err := http.Get(base + "/0000000000000000000000000000000a.narinfo")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			h := resp.Header
			if resp.StatusCode != tc.status || h.Get("Content-Type") != tc.typ || h.Get("Cache-Control") != tc.cc ||
				len(b) != tc.bodySize || h.Get("Server") != "" || h.Get("Date") != "" {
				t.Errorf("%d, %v, %d bytes; want %d, %s, %s, %d bytes", resp.StatusCode, h, len(b), tc.status, tc.typ, tc.cc, tc.bodySize)
			}
		})
	}
	if _, err := loadtest.NewCeiling(loadtest.CeilingConfig{Listen: "127.0.0.1:0", Miss: true, Sink: true}); err == nil {
		t.Error("a ceiling both sink and miss")
	}
}
