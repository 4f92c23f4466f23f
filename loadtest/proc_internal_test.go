package loadtest

import (
	"os"
	"strings"
	"testing"
	"time"
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

func TestParseProcStat(t *testing.T) {
	// A command name with a space and a parenthesis, 1234 ticks of user and
	// 56 of system time.
	line := "4242 (nginx: worker) x) S 4241 4241 4241 0 -1 4194624 1190 0 0 0 1234 56 0 0 20 0 1 0 2961 12345678 2050 18446744073709551615\n"
	st, err := parseProcStat([]byte(line))
	if err != nil || st.ppid != 4241 || st.cpu != 12900*time.Millisecond {
		t.Errorf("parseProcStat = %+v, %v; want ppid 4241, 12.9s", st, err)
	}
	for _, bad := range []string{"", "1 (x) S 0 1", "1 (x) S z 1 1 0 -1 0 0 0 0 0 1 1 0 0"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q) parsed", bad)
		}
	}
}

func TestTreeCPU(t *testing.T) {
	stats := map[int]procStat{
		1:  {ppid: 0, cpu: time.Hour},
		10: {ppid: 1, cpu: time.Second},      // the master
		11: {ppid: 10, cpu: 2 * time.Second}, // its workers
		12: {ppid: 10, cpu: 3 * time.Second},
		13: {ppid: 12, cpu: 4 * time.Second},
		20: {ppid: 1, cpu: time.Minute}, // someone else
	}
	if got := treeCPU(stats, 10); got != 10*time.Second {
		t.Errorf("treeCPU = %v, want 10s", got)
	}
}

// This process has used some CPU time, and reading it works.
func TestProcessCPU(t *testing.T) {
	for range 1_000_000 {
		_ = strings.Repeat("x", 8)
	}
	if d, err := processCPU(os.Getpid()); err != nil || d < 0 {
		t.Errorf("processCPU = %v, %v", d, err)
	}
	if _, err := processCPU(-1); err == nil {
		t.Error("processCPU of no process")
	}
}
