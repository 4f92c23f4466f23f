package loadtest

import "time"

// cpuMeter measures the CPU time a server process and its descendants use
// between its start and stop; with no pid it measures nothing.
type cpuMeter struct {
	pid   int
	start time.Duration
}

// startCPUMeter reads the server's CPU time so far.
func startCPUMeter(pid int) (*cpuMeter, error) {
	m := &cpuMeter{pid: pid}
	if pid == 0 {
		return m, nil
	}
	var err error
	m.start, err = processCPU(pid)
	return m, err
}

// stop returns the CPU time used since the start.
func (m *cpuMeter) stop() (time.Duration, error) {
	if m.pid == 0 {
		return 0, nil
	}
	now, err := processCPU(m.pid)
	if err != nil {
		return 0, err
	}
	return now - m.start, nil
}
