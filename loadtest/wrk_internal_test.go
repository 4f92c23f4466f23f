package loadtest

import (
	"testing"
	"time"
)

func TestParseWrkOutput(t *testing.T) {
	out := "Running 2s test @ http://127.0.0.1:8081\n  1 threads and 64 connections\n" +
		"Requests/sec:  50000.00\n" +
		`{"requests":100000,"duration_us":2000000,"bytes":1,"non2xx":40000,"connect_errors":1,"read_errors":2,` +
		`"write_errors":3,"timeouts":4,"mean_us":900,"p50_us":800,"p90_us":1500,"p99_us":4000,"p999_us":6000,"max_us":9000}` + "\n"
	r, err := parseWrkOutput([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 100000 || r.Throughput != 50000 || r.Elapsed != 2*time.Second || r.Non2xx != 40000 ||
		r.SocketErrors != 10 || r.Latency.P50 != 800*time.Microsecond || r.Latency.P99 != 4*time.Millisecond ||
		r.Latency.Max != 9*time.Millisecond || r.Latency.Count != 100000 {
		t.Errorf("parseWrkOutput = %+v", r)
	}
	for _, bad := range []string{"", "Running 2s test\n", `{"requests":1,"duration_us":0}`, "{"} {
		if _, err := parseWrkOutput([]byte(bad)); err == nil {
			t.Errorf("parseWrkOutput(%q) parsed", bad)
		}
	}
}
