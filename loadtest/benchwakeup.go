package loadtest

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseWakeups reads what `cyclictest -q -h N` printed: a histogram of
// timer wakeup latencies in microseconds, a column per measuring thread,
// then "# Max Latencies:" and "# Histogram Overflows:" lines. It returns
// the distribution of all threads together. A wakeup beyond the histogram
// counts as the largest maximum, so p99.9 and max stay upper bounds.
//
// The figure is the machine's, not a server's: how late a sleeping
// thread of an ordinary process runs after its timer fires, measured
// beside the load. No answer can come back sooner than the wakeups it
// takes, so it bounds the latency any server can show in that run.
func parseWakeups(b []byte) (Latency, error) {
	h := newHistogram()
	var maxUS, overflows int64
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# Max Latencies:"); ok {
			for _, f := range strings.Fields(rest) {
				v, err := strconv.ParseInt(f, 10, 64)
				if err != nil {
					return Latency{}, fmt.Errorf("cyclictest: %q: %w", line, err)
				}
				maxUS = max(maxUS, v)
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# Histogram Overflows:"); ok {
			for _, f := range strings.Fields(rest) {
				v, err := strconv.ParseInt(f, 10, 64)
				if err != nil {
					return Latency{}, fmt.Errorf("cyclictest: %q: %w", line, err)
				}
				overflows += v
			}
			continue
		}
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return Latency{}, fmt.Errorf("cyclictest: %q is no histogram line", line)
		}
		us, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return Latency{}, fmt.Errorf("cyclictest: %q: %w", line, err)
		}
		for _, c := range f[1:] {
			n, err := strconv.ParseInt(c, 10, 64)
			if err != nil {
				return Latency{}, fmt.Errorf("cyclictest: %q: %w", line, err)
			}
			if n > 0 {
				// RecordValues fails only outside the range, which the
				// clamp rules out.
				_ = h.h.RecordValues(clampLatency(time.Duration(us)*time.Microsecond), n)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Latency{}, fmt.Errorf("cyclictest: %w", err)
	}
	if overflows > 0 {
		_ = h.h.RecordValues(clampLatency(time.Duration(maxUS)*time.Microsecond), overflows)
	}
	if h.h.TotalCount() == 0 {
		return Latency{}, fmt.Errorf("cyclictest: no wakeups recorded")
	}
	l := h.summary()
	if maxUS > 0 { // exact, where the histogram's is rounded up
		l.Max = time.Duration(maxUS) * time.Microsecond
	}
	return l, nil
}

func wakeupP50(l Latency) time.Duration  { return l.P50 }
func wakeupP99(l Latency) time.Duration  { return l.P99 }
func wakeupP999(l Latency) time.Duration { return l.P999 }
func wakeupMax(l Latency) time.Duration  { return l.Max }

// hasWakeups reports whether any run has the machine's wakeup latency
// beside it.
func (r *BenchResults) hasWakeups() bool {
	for _, c := range r.cells {
		if c.wakeup != nil {
			return true
		}
	}
	return false
}

// mdMedian is the median of f over the cells of q, written by format, or
// "–" where no cell has a value.
func (r *BenchResults) mdMedian(q cellQuery, f func(benchCell) float64, format func(float64) string) string {
	v, ok := r.median(q, f)
	if !ok {
		return "–"
	}
	return format(v)
}
