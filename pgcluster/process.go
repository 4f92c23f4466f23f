package pgcluster

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// process is a running postmaster started by this package.
//
// The postmaster must not outlive this Go process, so it is started with a
// parent-death signal (SIGQUIT, PostgreSQL's immediate shutdown). Linux sends
// that signal when the thread that forked the child exits, not when the
// process does, and Go may retire threads. So the fork happens on a goroutine
// locked to its thread with runtime.LockOSThread, and that goroutine then
// stays on the thread, blocked in Wait, for as long as the child lives: the
// thread dies only with the whole process (and the kernel signals the child)
// or after the child is gone (and there is no one left to signal). The
// goroutine never unlocks; returning while locked makes the runtime end the
// thread rather than reuse it.
//
// The child gets its own process group, so a Ctrl-C in the terminal reaches
// only this process, which then stops PostgreSQL in its own order.
//
// The same locked thread is what puts the child in a network namespace:
// the thread enters it before the fork, the child inherits it, and since
// the thread is never unlocked no other goroutine ever runs there.
type process struct {
	cmd  *exec.Cmd
	log  *slog.Logger
	done chan struct{} // closed when the child has exited
	err  error         // the result of Wait; read only after done is closed
	// logOffset is the size of the server log when the child started: its
	// own lines follow.
	logOffset int64
	// stopping is set before the child is asked to stop, so its exit is
	// not reported as a crash.
	stopping atomic.Bool
}

// startProcess starts cmd in the network namespace netns (empty: this
// process's own).
func startProcess(cmd *exec.Cmd, netns string, log *slog.Logger) (*process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	cmd.SysProcAttr.Setpgid = true
	p := &process{cmd: cmd, log: log, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if netns != "" {
			if err := enterNetns(netns); err != nil {
				started <- err
				return
			}
		}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		if !p.stopping.Load() {
			log.Error("postgres exited", "pid", cmd.Process.Pid, "err", p.err)
		}
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks for a fast shutdown (SIGINT: roll back open transactions,
// checkpoint, exit) and waits for it; after timeout it kills the postmaster,
// whose children then exit on their own when they notice it is gone.
func (p *process) stop(timeout time.Duration) error {
	p.stopping.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal postgres: %w", err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("postgres exit: %w", p.err)
		}
		return nil
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("postgres did not stop within %v and was killed", timeout)
	}
}

// childEnv is this process's environment without the PG* variables, which
// would otherwise reach initdb and the server (PGDATA, PGPORT, ...) next to
// the flags pgcluster passes.
func childEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PG")
	})
}
