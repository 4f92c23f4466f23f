package loadtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// processMemory reads VmRSS and VmHWM of a process, in bytes.
func processMemory(pid int) (rss, peak int64, err error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("edge memory: %w", err)
	}
	defer f.Close()
	return parseProcStatus(f)
}

// parseProcStatus reads VmRSS and VmHWM (in kB) from /proc/<pid>/status.
func parseProcStatus(r io.Reader) (rss, peak int64, err error) {
	sc := bufio.NewScanner(r)
	found := 0
	for sc.Scan() {
		key, value, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || (string(key) != "VmRSS" && string(key) != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(value)), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("process status: %s: %w", key, err)
		}
		if string(key) == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
		found++
	}
	if found != 2 {
		return 0, 0, errors.New("VmRSS or VmHWM missing from the process status")
	}
	return rss, peak, sc.Err()
}

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat: 100 on
// every Linux architecture Go supports (the kernel scales its own HZ to it).
const clockTicks = 100

// procStat is what one line of /proc/<pid>/stat says about CPU time.
type procStat struct {
	ppid int
	cpu  time.Duration // user + system
}

// parseProcStat reads the parent's pid and the user and system CPU time from
// the contents of /proc/<pid>/stat. The command name (field 2) is in
// parentheses and may hold spaces and parentheses itself, so the fields are
// counted from the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("process stat: no command name")
	}
	// After the name: state (3), ppid (4), … utime (14), stime (15).
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("process stat: %d fields after the name, want at least 13", len(f))
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, fmt.Errorf("process stat: ppid: %w", err)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("process stat: cpu time: %w", err)
		}
		ticks += n
	}
	return procStat{ppid: ppid, cpu: time.Duration(ticks) * time.Second / clockTicks}, nil
}

// processCPU is the user and system CPU time a process and all its living
// descendants have used (for nginx: the master and its workers), read from
// /proc. Its resolution is a clock tick, 10 ms.
func processCPU(pid int) (time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("process cpu: %w", err)
	}
	stats := map[int]procStat{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited since the listing
		}
		if st, err := parseProcStat(b); err == nil {
			stats[p] = st
		}
	}
	if _, ok := stats[pid]; !ok {
		return 0, fmt.Errorf("process cpu: no process %d", pid)
	}
	return treeCPU(stats, pid), nil
}

// treeCPU sums the CPU time of pid and its descendants.
func treeCPU(stats map[int]procStat, pid int) time.Duration {
	children := map[int][]int{}
	for p, st := range stats {
		children[st.ppid] = append(children[st.ppid], p)
	}
	var sum time.Duration
	todo := []int{pid}
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		sum += stats[p].cpu
		todo = append(todo, children[p]...)
	}
	return sum
}
