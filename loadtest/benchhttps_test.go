package loadtest_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/narthex-cache/narthex/loadtest"
)

// httpsResults writes the results folder of an https-only run: two
// repetitions of hits and misses by both generators, the edge at
// edgeCPU µs per answer in repetition 1 and 10% more in repetition 2, the
// ceilings at 10 µs.
func httpsResults(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("facts.json", `{"command": "bash loadtest/bench.sh --https-only", "date": "2026-12-08 01:50 UTC", "https_only": true}`)
	var manifest, commands strings.Builder
	commands.WriteString("setup-https-edge\t$T/narthex edge --https-listen 127.0.0.1:2 --tls-cert-file $T/https-cert.pem\n")
	result := func(cpu, rate int) string {
		return fmt.Sprintf(`{"throughput": %d, "latency": {"count": 1000, "p50_ns": 500000, "p99_ns": 4000000}, "server_cpu_per_request_ns": %d, "errors": 0}`, rate, cpu)
	}
	for rep := 1; rep <= 2; rep++ {
		for _, sc := range []string{"hits", "misses"} {
			ceil := map[string]string{"hits": "ceiling-https", "misses": "ceiling-miss-https"}[sc]
			for _, gen := range []string{"lookup", "wrk"} {
				id := fmt.Sprintf("https-%s-%s-%d", gen, sc, rep)
				edge := result(12000+1200*(rep-1), 50000)
				write(id+".json", `{"results": [`+edge+`, `+result(10000, 60000)+`]}`)
				fmt.Fprintf(&manifest, `{"id": %q, "set": "https", "scenario": %q, "mode": "c64", "generator": %q, "rep": %d, "servers": ["edge-https", %q], "file": %q}`+"\n",
					id, sc, gen, rep, ceil, id+".json")
				fmt.Fprintf(&commands, "%s\t$T/narthex loadtest %s --url https://127.0.0.1:2,https://127.0.0.1:3 --hit-ratio %s\n", id, gen, sc)
			}
		}
		// Handshakes: the edge at 2000/s and 300 µs each in repetition
		// 1, 10% more CPU in repetition 2; the ceiling at 2500/s and 200 µs.
		id := fmt.Sprintf("https-lookup-handshakes-%d", rep)
		handshake := func(rate, cpu int) string {
			return fmt.Sprintf(`{"throughput": %d, "connect_rate": %d, "latency": {"count": 1000, "p50_ns": 2000000, "p99_ns": 9000000}, "server_cpu_per_request_ns": %d, "server_cpu_per_connect_ns": %d, "errors": 0}`,
				rate, rate, cpu, cpu)
		}
		write(id+".json", `{"results": [`+handshake(2000, 300000+30000*(rep-1))+`, `+handshake(2500, 200000)+`]}`)
		fmt.Fprintf(&manifest, `{"id": %q, "set": "https", "scenario": "handshakes", "mode": "c64", "generator": "lookup", "rep": %d, "servers": ["edge-https", "ceiling-https"], "file": %q}`+"\n",
			id, rep, id+".json")
		fmt.Fprintf(&commands, "%s\t$T/narthex loadtest lookup --url https://127.0.0.1:2,https://127.0.0.1:3 --new-connections\n", id)
	}
	write("lookups.jsonl", manifest.String())
	write("commands.txt", commands.String())
	return dir
}

// A run with --https-only writes section 11 alone, before the sections
// that follow it, from the medians of its runs, and keeps the rest of the
// file as it was; a later full run carries it over.
func TestWriteBenchmarks_HTTPSOnly(t *testing.T) {
	r, err := loadtest.ReadBenchResults(httpsResults(t))
	if err != nil {
		t.Fatal(err)
	}
	previous := "# narthex benchmarks\n\nWritten by a full run.\n\n## Machine\n\nold machine\n\n## 10. Garbage collection\n\nold gc\n\n## Warnings and errors logged by narthex during the run\n\nnone\n"
	var b bytes.Buffer
	if err := loadtest.WriteBenchmarks(&b, r, []byte(previous)); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	mustContain(t, got,
		"Section 11 and its targets were made by another run, `bash loadtest/bench.sh --https-only` on 2026-12-08 01:50 UTC",
		"old gc\n\n## 11. HTTPS lookups: edge vs the ceiling over TLS\n\n*Made by the run of 2026-12-08 01:50 UTC",
		// Medians of 12 and 13.2 µs against 10 µs.
		"| hits | lookup | 12.6 µs | 10.0 µs | 1.26× | 50000 | 60000 | 0.83× | 500 µs / 4.00 ms | 500 µs / 4.00 ms | 0 / 0 |",
		"| misses | wrk | 12.6 µs | 10.0 µs | 1.26× |",
		"$T/narthex edge --https-listen 127.0.0.1:2 --tls-cert-file $T/https-cert.pem\n",
		"$T/narthex loadtest wrk --url https://127.0.0.1:2,https://127.0.0.1:3 --hit-ratio misses\n",
		// Medians of 300 and 330 µs against 200 µs; less the answers of
		// kept-alive hits, 302.4 against 190 µs.
		"| 2000 | 2500 | 0.80× | 315 µs | 200 µs | 1.57× | 302 µs | 190 µs | 1.59× | 2.00 ms / 9.00 ms | 2.00 ms / 9.00 ms | 0 / 0 |",
		"$T/narthex loadtest lookup --url https://127.0.0.1:2,https://127.0.0.1:3 --new-connections\n",
		"## Warnings and errors logged by narthex during the run\n\nnone\n",
	)
	if i, j := strings.Index(got, "## 11."), strings.Index(got, "## Warnings"); i < 0 || j < i {
		t.Errorf("section 11 is not before the warnings:\n%s", got)
	}
	if !strings.Contains(got, "old machine") {
		t.Errorf("the machine of the full run is gone:\n%s", got)
	}

	// A full run that did not make section 11 carries it over.
	full := report(t, "testdata/bench", []byte(got), "testdata/bench/BENCHMARKS.https-carried.golden.md")
	mustContain(t, full, "## 11. HTTPS lookups: edge vs the ceiling over TLS\n\n*Made by the run of 2026-12-08 01:50 UTC",
		"| hits | lookup | 12.6 µs | 10.0 µs | 1.26× |")
}
