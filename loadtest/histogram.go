package loadtest

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// maxLatency is the largest latency a histogram tells apart; longer ones
// are recorded as maxLatency.
const maxLatency = time.Minute

// histogram records latencies in nanoseconds, from 1 ns to maxLatency at
// three significant digits. It is not safe for concurrent use: every
// worker has its own, merged at the end.
type histogram struct{ h *hdrhistogram.Histogram }

func newHistogram() histogram {
	return histogram{hdrhistogram.New(1, int64(maxLatency), 3)}
}

func (h histogram) record(d time.Duration) {
	// RecordValue fails only outside the range, which the clamp rules out.
	_ = h.h.RecordValue(clampLatency(d))
}

// clampLatency is d in nanoseconds, within the range a histogram holds.
func clampLatency(d time.Duration) int64 { return int64(min(max(d, 1), maxLatency)) }

func (h histogram) merge(o histogram) { h.h.Merge(o.h) }

// Latency summarizes a latency distribution.
type Latency struct {
	Count int64         `json:"count"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
}

func (h histogram) summary() Latency {
	if h.h.TotalCount() == 0 {
		return Latency{}
	}
	q := func(p float64) time.Duration { return time.Duration(h.h.ValueAtPercentile(p)) }
	return Latency{
		Count: h.h.TotalCount(),
		Mean:  time.Duration(h.h.Mean()),
		P50:   q(50),
		P90:   q(90),
		P99:   q(99),
		P999:  q(99.9),
		Max:   time.Duration(h.h.Max()),
	}
}

// cells returns the summary as table cells: p50 p90 p99 p99.9 max.
func (l Latency) cells() []string {
	return []string{fmtDuration(l.P50), fmtDuration(l.P90), fmtDuration(l.P99), fmtDuration(l.P999), fmtDuration(l.Max)}
}

// latencyHeader heads the columns of Latency.cells.
var latencyHeader = []string{"p50", "p90", "p99", "p99.9", "max"}
