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
