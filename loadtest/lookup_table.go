package loadtest

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// WriteLookupTables writes one table per result, then, for several, a
// side-by-side summary.
func WriteLookupTables(w io.Writer, results []*LookupResult) error {
	var tables []*table
	for _, r := range results {
		tables = append(tables, r.table())
	}
	if len(results) > 1 {
		t := newTable("summary", append([]string{"url", "req/s", "server CPU/req"}, append(slices.Clone(latencyHeader), "errors")...)...)
		for _, r := range results {
			cpu := "–"
			if r.ServerCPU > 0 {
				cpu = fmtDuration(r.CPUPerRequest)
			}
			t.add(append(append([]string{r.URL, fmtRate(r.Throughput), cpu}, r.Latency.cells()...), fmtInt(r.Errors))...)
		}
		tables = append(tables, t)
	}
	return writeTables(w, tables...)
}

func (r *LookupResult) table() *table {
	mode := fmt.Sprintf("%s, %d connections", r.Mode, r.Connections)
	if r.Rate > 0 {
		mode = fmt.Sprintf("%s at %s req/s, %d connections", r.Mode, fmtRate(r.Rate), r.Connections)
	}
	if r.NewConnections {
		mode += ", a new connection per request"
	}
	t := newTable(fmt.Sprintf("lookup %s  (%s; %d keys, %s, hit ratio %.2f)", r.URL, mode, r.Keys, r.Dist, r.HitRatio))
	t.add("elapsed", fmtDuration(r.Elapsed))
	t.add("requests", fmtInt(r.Requests))
	t.add("throughput", fmtRate(r.Throughput)+" req/s")
	if r.ServerCPU > 0 {
		t.add("server CPU", fmt.Sprintf("%s, %s per request", fmtDuration(r.ServerCPU), fmtDuration(r.CPUPerRequest)))
	}
	if r.Connects > 0 {
		line := fmt.Sprintf("%d, %s per second", r.Connects, fmtRate(r.ConnectRate))
		if r.ServerCPU > 0 {
			line += fmt.Sprintf(", server CPU %s per connection", fmtDuration(r.CPUPerConnect))
		}
		t.add("connections made", line)
	}
	for i, h := range latencyHeader {
		t.add("latency "+h, r.Latency.cells()[i])
	}
	t.add("hits", fmt.Sprintf("%d sent, %d answered 200, %d otherwise", r.Hits.Sent, r.Hits.Right, r.Hits.Wrong))
	t.add("misses", fmt.Sprintf("%d sent, %d answered 404, %d otherwise", r.Misses.Sent, r.Misses.Right, r.Misses.Wrong))
	codes := make([]string, 0, len(r.Statuses))
	for s := range r.Statuses {
		codes = append(codes, s)
	}
	slices.Sort(codes)
	var parts []string
	for _, s := range codes {
		parts = append(parts, fmt.Sprintf("%s: %d", s, r.Statuses[s]))
	}
	t.add("statuses", strings.Join(parts, ", "))
	t.add("errors", fmt.Sprintf("%d (%d wrong answers, %d without answer)", r.Errors, r.Hits.Wrong+r.Misses.Wrong, r.TransportErrors))
	if r.FirstError != "" {
		t.add("first error", r.FirstError)
	}
	if r.Rate > 0 {
		t.add("sends >1ms late", fmtInt(r.Late))
	}
	return t
}
