package loadtest

import (
	"strings"
	"testing"
)

func TestParseProcStatus(t *testing.T) {
	status := "Name:\tnarthex\nVmPeak:\t 1000 kB\nVmHWM:\t   81920 kB\nVmRSS:\t   40960 kB\nThreads:\t9\n"
	rss, peak, err := parseProcStatus(strings.NewReader(status))
	if err != nil || rss != 40960<<10 || peak != 81920<<10 {
		t.Errorf("parseProcStatus = %d, %d, %v; want %d, %d", rss, peak, err, 40960<<10, 81920<<10)
	}
	if _, _, err := parseProcStatus(strings.NewReader("Name:\tx\n")); err == nil {
		t.Error("a status without VmRSS parsed")
	}
}
