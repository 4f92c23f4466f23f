package origin

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

// BenchmarkServer_UploadChain uploads a chain of paths one at a time, as
// `nix copy --to` does: path i refers to paths i-1 and i/2, and each costs
// a GET of its narinfo (a miss), a HEAD of its NAR file (a miss), a PUT of
// the NAR file and a PUT of the narinfo, both with Expect: 100-continue like
// curl's. It reports the time of each request kind per path.
func BenchmarkServer_UploadChain(b *testing.B) {
	// Debug logs of every miss would swamp the results.
	h := newHarness(b, func(c *Config) { c.Logger = slog.New(slog.DiscardHandler) })
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Second}}
	defer client.CloseIdleConnections()
	send := func(method, path string, body []byte, want int) time.Duration {
		req, err := http.NewRequestWithContext(b.Context(), method, h.ts.URL+path, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+h.token)
		if method == http.MethodPut {
			req.Header.Set("Expect", "100-continue")
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		d := time.Since(start)
		if resp.StatusCode != want {
			b.Fatalf("%s %s: %d, want %d", method, path, resp.StatusCode, want)
		}
		return d
	}

	var lookup, head, putNar, putInfo time.Duration
	var bases []string
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("chain-%d", i)
		f := newNar(fmt.Sprintf("%s %x", name, make([]byte, 100)), ".xz")
		var refs []string
		if i > 0 {
			refs = append(refs, bases[i-1])
			if i/2 != i-1 {
				refs = append(refs, bases[i/2])
			}
		}
		ni := nixInfo(name, f, refs...)
		lookup += send(http.MethodGet, "/"+ni.Hash+".narinfo", nil, http.StatusNotFound)
		head += send(http.MethodHead, "/"+f.url, nil, http.StatusNotFound)
		putNar += send(http.MethodPut, "/"+f.url, f.data, http.StatusOK)
		putInfo += send(http.MethodPut, "/"+ni.Hash+".narinfo", ni.Render(), http.StatusOK)
		bases = append(bases, base(ni))
	}
	n := float64(b.N)
	b.ReportMetric(float64(lookup.Nanoseconds())/n, "get-narinfo-ns/op")
	b.ReportMetric(float64(head.Nanoseconds())/n, "head-nar-ns/op")
	b.ReportMetric(float64(putNar.Nanoseconds())/n, "put-nar-ns/op")
	b.ReportMetric(float64(putInfo.Nanoseconds())/n, "put-narinfo-ns/op")
}
