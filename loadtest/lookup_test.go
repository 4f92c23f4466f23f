package loadtest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/loadtest"
)

// startCeiling runs a ceiling server of cfg on a loopback port until the
// test ends, and returns its base URL.
func startCeiling(t *testing.T, cfg loadtest.CeilingConfig) string {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	c, err := loadtest.NewCeiling(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := c.Run(ctx); err != nil {
			t.Errorf("ceiling: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + c.Addr()
}

// cacheServer serves the first n paths of seed under prefix: 200 for
// them, 404 for any other hash, and counts requests.
func cacheServer(t *testing.T, seed int64, n int, prefix string) (string, *atomic.Int64) {
	t.Helper()
	known := map[string]bool{}
	for i := range n {
		known[prefix+"/"+loadtest.Hash(seed, i)+".narinfo"] = true
	}
	var count atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		if known[r.URL.Path] {
			w.Header().Set("Content-Type", "text/x-nix-narinfo")
			w.Write([]byte("StorePath: /nix/store/x\n"))
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL + prefix, &count
}

func checkCounts(t *testing.T, r *loadtest.LookupResult) {
	t.Helper()
	if r.Requests != r.Hits.Sent+r.Misses.Sent || r.Answered != r.Latency.Count ||
		r.Errors != r.Hits.Wrong+r.Misses.Wrong+r.TransportErrors {
		t.Errorf("counts do not add up: %+v", r)
	}
	var statuses int64
	for _, n := range r.Statuses {
		statuses += n
	}
	if statuses != r.Answered {
		t.Errorf("statuses %v add up to %d, %d answered", r.Statuses, statuses, r.Answered)
	}
}

func TestLookup_Classifies(t *testing.T) {
	cache, served := cacheServer(t, 3, 100, "/cache")
	ceiling := startCeiling(t, loadtest.CeilingConfig{})
	results, err := loadtest.Lookup(t.Context(), loadtest.LookupConfig{
		URLs: []string{cache, ceiling}, Keys: 100, Seed: 3, HitRatio: 0.3,
		// Requests ends the run; Duration only bounds it, generously for a busy machine.
		Connections: 4, Duration: 2 * time.Minute, Requests: 2000,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 {
		t.Fatalf("%d results, want 2", len(results))
	}
	c, ceil := results[0], results[1]
	for _, r := range results {
		checkCounts(t, r)
		if r.Requests != 2000 || r.TransportErrors != 0 {
			t.Errorf("%s: %d requests, %d transport errors; want 2000 and none (%s)", r.URL, r.Requests, r.TransportErrors, r.FirstError)
		}
		if r.Hits.Sent < 450 || r.Hits.Sent > 750 {
			t.Errorf("%s: %d hits of 2000 at hit ratio 0.3", r.URL, r.Hits.Sent)
		}
	}
	if served.Load() != 2000 {
		t.Errorf("cache server saw %d requests, want 2000", served.Load())
	}
	// The cache answers as lookup expects.
	if c.Errors != 0 || c.Hits.Right != c.Hits.Sent || c.Misses.Right != c.Misses.Sent ||
		c.Statuses["200"] != c.Hits.Sent || c.Statuses["404"] != c.Misses.Sent {
		t.Errorf("cache server: %+v", c)
	}
	// The ceiling answers 200 to everything: every miss is an error.
	if ceil.Hits.Wrong != 0 || ceil.Misses.Right != 0 || ceil.Errors != ceil.Misses.Sent || ceil.Statuses["200"] != 2000 {
		t.Errorf("ceiling: %+v", ceil)
	}
	var out strings.Builder
	if err := loadtest.WriteLookupTables(&out, results); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{cache, ceiling, "p99.9", "summary"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tables lack %q:\n%s", want, out.String())
		}
	}
}

func TestLookup_ServerErrors(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
	t.Cleanup(ts.Close)
	results, err := loadtest.Lookup(t.Context(), loadtest.LookupConfig{
		URLs: []string{ts.URL}, Keys: 10, Seed: 1, HitRatio: 0.5, Connections: 2, Duration: 2 * time.Minute, Requests: 300,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := results[0]
	checkCounts(t, r)
	if r.Errors != 300 || r.Statuses["500"] != 300 || r.Hits.Right+r.Misses.Right != 0 {
		t.Errorf("a server answering 500: %+v", r)
	}
}

func TestLookup_Bounds(t *testing.T) {
	ceiling := startCeiling(t, loadtest.CeilingConfig{})
	t.Run("requests", func(t *testing.T) {
		results, err := loadtest.Lookup(t.Context(), loadtest.LookupConfig{
			URLs: []string{ceiling}, Keys: 10, Seed: 1, HitRatio: 1, Connections: 8, Duration: 2 * time.Minute, Requests: 123,
		})
		if err != nil {
			t.Fatal(err)
		}
		if r := results[0]; r.Requests != 123 || r.Answered != 123 || r.Errors != 0 {
			t.Errorf("requests %d, answered %d, errors %d; want 123, 123, 0", r.Requests, r.Answered, r.Errors)
		}
	})
	t.Run("duration", func(t *testing.T) {
		start := time.Now()
		results, err := loadtest.Lookup(t.Context(), loadtest.LookupConfig{
			URLs: []string{ceiling}, Keys: 10, Seed: 1, HitRatio: 1, Connections: 1, Duration: 200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		// The run ends at its duration rather than going on: a bound that
		// holds on a machine many times slower, not a measure of speed.
		if took := time.Since(start); took > time.Minute {
			t.Errorf("a 200 ms run took %v", took)
		}
		if r := results[0]; r.Requests == 0 || r.Elapsed < 200*time.Millisecond {
			t.Errorf("requests %d in %v", r.Requests, r.Elapsed)
		}
	})
	t.Run("open loop", func(t *testing.T) {
		results, err := loadtest.Lookup(t.Context(), loadtest.LookupConfig{
			URLs: []string{ceiling}, Keys: 10, Seed: 1, HitRatio: 1, Connections: 4, Duration: 500 * time.Millisecond, Rate: 400,
		})
		if err != nil {
			t.Fatal(err)
		}
		// 400/s for 0.5 s is 200 requests on a fixed timeline.
		if r := results[0]; r.Requests != 200 || r.Errors != 0 || r.Mode != "open loop" {
			t.Errorf("open loop at 400/s for 0.5 s: %d requests, %d errors, mode %q", r.Requests, r.Errors, r.Mode)
		}
	})
}

func TestLookup_RefusesNonLoopback(t *testing.T) {
	for _, u := range []string{"http://192.0.2.1:8080", "http://example.com", "http://[2001:db8::1]:80", "http://10.0.0.1", "https://192.0.2.1:8443"} {
		_, err := loadtest.Lookup(t.Context(), loadtest.LookupConfig{URLs: []string{u}, Keys: 1, Duration: time.Second})
		if err == nil {
			t.Errorf("%s: accepted", u)
		} else if !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: %v, want a loopback refusal", u, err)
		}
	}
}

func TestLookup_NoServer(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	_, err := loadtest.Lookup(t.Context(), loadtest.LookupConfig{URLs: []string{url}, Keys: 1, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("err = %v, want a connection error", err)
	}
}

// With the server's pid, a run reports the CPU time the server used and its
// share per answer. The ceiling runs in this process, so the time measured
// is the test's own, generator included: enough to see that it is read and
// divided.
func TestLookup_ServerCPU(t *testing.T) {
	ceiling := startCeiling(t, loadtest.CeilingConfig{})
	results, err := loadtest.Lookup(t.Context(), loadtest.LookupConfig{
		URLs: []string{ceiling}, Keys: 10, Seed: 1, HitRatio: 1, Connections: 4, Duration: 2 * time.Minute, Requests: 20000,
		ServerPIDs: []int{os.Getpid()},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := results[0]
	if r.Answered != 20000 || r.ServerCPU <= 0 || r.CPUPerRequest != r.ServerCPU/time.Duration(r.Answered) {
		t.Errorf("answered %d, server CPU %v, per request %v", r.Answered, r.ServerCPU, r.CPUPerRequest)
	}
	_, err = loadtest.Lookup(t.Context(), loadtest.LookupConfig{
		URLs: []string{ceiling, ceiling}, Keys: 10, Duration: time.Second, ServerPIDs: []int{os.Getpid()},
	})
	if err == nil {
		t.Error("one pid for two URLs accepted")
	}
}
