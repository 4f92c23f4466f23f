package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// killTimeout bounds the wait for killed server processes to be gone.
const killTimeout = 30 * time.Second

// Kill ends the server as a crash would: the postmaster and every process
// it started get SIGKILL at once, nothing is flushed or checkpointed, and
// Kill returns once none of them runs any more. Transactions committed
// before stay in the WAL, from which Start or Restart recovers them; Wait
// does not report a Kill. Killing a stopped cluster does nothing.
func (c *Cluster) Kill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.proc
	if p == nil {
		return nil
	}
	c.proc = nil
	err := p.kill(c.dataDir, killTimeout)
	c.log.Info("postgres killed", "dir", c.dir, "pid", p.pid(), "err", err)
	return err
}

// kill stops the postmaster, so that it starts no more children, kills it
// and every process running in dataDir (its children, which run there
// too and each lead a process group of their own), and waits, up to
// timeout, until none is left there.
func (p *process) kill(dataDir string, timeout time.Duration) error {
	p.stopping.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop postgres: %w", err)
	}
	pids, err := serving(dataDir)
	_ = p.cmd.Process.Kill()
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL) // one gone already is fine
	}
	<-p.done
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		left, err := serving(dataDir)
		if err != nil || len(left) == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still run in %s %v after SIGKILL", left, dataDir, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serving lists the processes that run in dir (see servesDir).
func serving(dir string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && servesDir(pid, dir) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
