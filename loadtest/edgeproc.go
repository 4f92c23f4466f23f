package loadtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// readyPoll spaces the /readyz probes.
const readyPoll = 5 * time.Millisecond

// stopTimeout is how long the edge may take to stop after SIGINT before it
// is killed.
const stopTimeout = 15 * time.Second

// childEdge is a `narthex edge` process.
type childEdge struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	addr    string
	replica string
	log     string // its stdout and stderr
	exited  chan struct{}
	waitErr error
	stopped bool
}

// edgeSpec is how to run one `narthex edge`.
type edgeSpec struct {
	executable  string
	databaseURL string // passed in the environment, not on the command line
	name        string
	replica     string // its replica folder
	addr        string // its loopback listen address
	log         string // the file its stdout and stderr are appended to
}

// startEdge starts an edge process; it dies with this one.
func startEdge(s edgeSpec) (*childEdge, error) {
	e := &childEdge{name: s.name, addr: s.addr, replica: s.replica, log: s.log, exited: make(chan struct{})}
	logFile, err := os.OpenFile(s.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("edge %s: %w", s.name, err)
	}
	defer logFile.Close()
	e.cmd = exec.Command(s.executable, "edge", "--name", s.name, "--replica-dir", s.replica, "--listen", s.addr)
	e.cmd.Env = append(os.Environ(), "NARTHEX_DATABASE_URL="+s.databaseURL, "NARTHEX_DATABASE_URL_FILE=")
	e.cmd.Stdout, e.cmd.Stderr = logFile, logFile
	// The edge dies with this process, whatever ends it.
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	e.started = time.Now()
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("edge %s: start: %w", s.name, err)
	}
	go func() {
		e.waitErr = e.cmd.Wait()
		close(e.exited)
	}()
	return e, nil
}

// waitReady polls /readyz until it answers 200 and returns the time since
// the process started.
func (e *childEdge) waitReady(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	conn := newHTTPConn(e.addr, deadline)
	defer conn.close()
	req := plainGet(e.addr, "/readyz")
	for {
		if status, err := conn.do(req); err == nil && status == 200 {
			return time.Since(e.started), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-e.exited:
			return 0, fmt.Errorf("edge %s exited before it was ready (%v):\n%s", e.name, e.waitErr, e.logTail())
		case <-time.After(readyPoll):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("edge %s was not ready after %v:\n%s", e.name, timeout, e.logTail())
		}
	}
}

// stop sends SIGINT and waits for the edge to exit, killing it after
// stopTimeout. It may be called again.
func (e *childEdge) stop() error {
	if e.stopped {
		return nil
	}
	e.stopped = true
	e.cmd.Process.Signal(os.Interrupt)
	select {
	case <-e.exited:
	case <-time.After(stopTimeout):
		e.cmd.Process.Kill()
		<-e.exited
		return fmt.Errorf("edge %s did not stop within %v of SIGINT and was killed", e.name, stopTimeout)
	}
	return nil
}

// kill ends the edge with SIGKILL and waits for it to exit.
func (e *childEdge) kill() {
	e.stopped = true
	e.cmd.Process.Kill()
	<-e.exited
}

// logTail returns the last lines of the edge's output.
func (e *childEdge) logTail() string {
	b, _ := os.ReadFile(e.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return "  " + strings.Join(lines[max(0, len(lines)-20):], "\n  ")
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port free just now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
