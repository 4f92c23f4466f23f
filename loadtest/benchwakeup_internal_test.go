package loadtest

import (
	"testing"
	"time"
)

func TestParseWakeups(t *testing.T) {
	t.Parallel()
	// Two threads, 1,000 wakeups: 980 at 50 µs, 10 at 100 µs, 5 at 900 µs,
	// and 5 beyond the 1,000 µs histogram, the worst at 7,500 µs.
	in := "# /dev/cpu_dma_latency set to 0us\n# Histogram\n" +
		"000050 000490\t000490\n" +
		"000100 000006\t000004\n" +
		"000900 000002\t000003\n" +
		"# Total: 000000498 000000497\n" +
		"# Min Latencies: 00050 00050\n" +
		"# Avg Latencies: 00060 00061\n" +
		"# Max Latencies: 07500 01200\n" +
		"# Histogram Overflows: 00002 00003\n" +
		"# Histogram Overflow at cycle number:\n" +
		"# Thread 0: 00017 00421\n" +
		"# Thread 1: 00003 00100 00777\n"
	l, err := parseWakeups([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	near := func(got, want time.Duration) bool { return got >= want && got <= want+want/100 }
	if l.Count != 1000 {
		t.Errorf("count %d, want 1000", l.Count)
	}
	if !near(l.P50, 50*time.Microsecond) {
		t.Errorf("p50 %v, want 50µs", l.P50)
	}
	// The 990th wakeup is at 100 µs; the 999th is one of the overflows,
	// counted as the largest maximum.
	if !near(l.P99, 100*time.Microsecond) {
		t.Errorf("p99 %v, want 100µs", l.P99)
	}
	if !near(l.P999, 7500*time.Microsecond) {
		t.Errorf("p99.9 %v, want 7.5ms", l.P999)
	}
	if l.Max != 7500*time.Microsecond {
		t.Errorf("max %v, want 7.5ms", l.Max)
	}
}

func TestParseWakeups_RefusesWhatIsNoHistogram(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"",
		"# Histogram\n# Max Latencies: 00010\n",
		"# Histogram\n000050\n",
		"# Histogram\n000050 abc\n",
		"T: 0 ( 1234) P: 0 I:1000 C:   1000 Min:  10 Act:  50 Avg:  60 Max: 120\n",
	} {
		if _, err := parseWakeups([]byte(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
