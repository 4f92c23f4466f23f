package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/narthex-cache/narthex/sql"
)

// DefaultBootstrapEdge names the edge bootstrap starts.
const DefaultBootstrapEdge = "loadtest_bootstrap"

// DefaultBootstrapTimeout bounds the wait for the edge to become ready.
const DefaultBootstrapTimeout = 30 * time.Minute

// readyPoll spaces the /readyz probes.
const readyPoll = 5 * time.Millisecond

// stopTimeout is how long the edge may take to stop after SIGINT before it
// is killed.
const stopTimeout = 15 * time.Second

var edgeNamePattern = regexp.MustCompile(`^[a-z0-9_]{1,40}$`)

// BootstrapConfig describes a bootstrap measurement: a fresh edge started
// against the origin database and timed until it is ready.
type BootstrapConfig struct {
	// DatabaseURL is the origin database, on loopback, as a role with
	// REPLICATION. Required. It reaches the edge through its environment
	// (NARTHEX_DATABASE_URL), not its command line.
	DatabaseURL string
	// EdgeName names the edge and its replication slot; no other edge may
	// have it. Default DefaultBootstrapEdge.
	EdgeName string
	// Dir holds the edge's temporary replica folder, removed afterwards.
	// Default the system's temporary folder.
	Dir string
	// Executable is the narthex binary to run "edge" with. Default this
	// program.
	Executable string
	// Timeout bounds the wait for /readyz. Default DefaultBootstrapTimeout.
	Timeout time.Duration
}

// BootstrapResult is what a bootstrap measurement found.
type BootstrapResult struct {
	EdgeName string `json:"edge_name"`
	// Narinfos in the origin when the edge started.
	Narinfos int64 `json:"narinfos"`
	// ReadyAfter runs from starting the process to the first 200 from
	// /readyz.
	ReadyAfter time.Duration `json:"ready_after_ns"`
	// RSS and PeakRSS are the edge's VmRSS and VmHWM once ready, in bytes.
	RSS     int64 `json:"rss_bytes"`
	PeakRSS int64 `json:"peak_rss_bytes"`
	// ReplicaBytes is the disk space the replica folder takes once ready.
	ReplicaBytes int64 `json:"replica_bytes"`
}

// Bootstrap starts `narthex edge` on an empty replica folder and a free
// loopback port, times it until /readyz answers 200, measures its memory
// and its replica, and stops it. Its replication slot and its row in the
// edge table are removed afterwards, so the origin keeps no WAL for it.
func Bootstrap(ctx context.Context, cfg BootstrapConfig) (*BootstrapResult, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := CheckDatabaseURL(cfg.DatabaseURL); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	db, err := pgx.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: connect: %w", err)
	}
	defer db.Close(context.Background())
	if slots, err := edgeSlots(ctx, db, cfg.EdgeName); err != nil {
		return nil, err
	} else if len(slots) > 0 {
		return nil, fmt.Errorf("bootstrap: edge %s already has replication slots (%s); choose another edge name",
			cfg.EdgeName, strings.Join(slots, ", "))
	}
	res := &BootstrapResult{EdgeName: cfg.EdgeName}
	if err := db.QueryRow(ctx, qCountNarinfos).Scan(&res.Narinfos); err != nil {
		return nil, fmt.Errorf("bootstrap: count narinfos: %w", err)
	}

	dir, err := os.MkdirTemp(cfg.Dir, "narthex-bootstrap-")
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	defer os.RemoveAll(dir)
	edge, err := startBootstrapEdge(cfg, dir)
	if err != nil {
		return nil, err
	}
	measureErr := edge.measure(ctx, cfg.Timeout, res)
	// The edge is stopped and forgotten whatever happened.
	if err := errors.Join(measureErr, edge.stop(), forgetEdge(db, cfg.EdgeName)); err != nil {
		return nil, err
	}
	return res, nil
}

// measure waits for the edge to be ready, then fills in its start time,
// memory and replica size.
func (e *childEdge) measure(ctx context.Context, timeout time.Duration, res *BootstrapResult) error {
	var err error
	if res.ReadyAfter, err = e.waitReady(ctx, timeout); err != nil {
		return err
	}
	if res.RSS, res.PeakRSS, err = processMemory(e.cmd.Process.Pid); err != nil {
		return err
	}
	res.ReplicaBytes, err = diskUsage(e.replica)
	return err
}

func (c *BootstrapConfig) setDefaults() error {
	if c.DatabaseURL == "" {
		return errors.New("bootstrap: DatabaseURL is empty")
	}
	if c.EdgeName == "" {
		c.EdgeName = DefaultBootstrapEdge
	}
	if !edgeNamePattern.MatchString(c.EdgeName) {
		return fmt.Errorf("bootstrap: edge name %q is not 1-40 characters of [a-z0-9_]", c.EdgeName)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultBootstrapTimeout
	}
	if c.Timeout < 0 || c.Timeout > 10*MaxDuration {
		return fmt.Errorf("bootstrap: Timeout %v is outside (0, %v]", c.Timeout, 10*MaxDuration)
	}
	if c.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bootstrap: find narthex: %w", err)
		}
		c.Executable = exe
	}
	return nil
}

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

func startBootstrapEdge(cfg BootstrapConfig, dir string) (*childEdge, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	return startEdge(edgeSpec{
		executable: cfg.Executable, databaseURL: cfg.DatabaseURL, name: cfg.EdgeName,
		replica: filepath.Join(dir, "replica"), addr: addr, log: filepath.Join(dir, "edge.log"),
	})
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

// diskUsage is the space the files under dir take on disk (allocated
// blocks, as du counts them).
func diskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("bootstrap: replica size: %w", err)
	}
	return total, nil
}

// edgeSlots lists the replication slots of edge name.
func edgeSlots(ctx context.Context, db *pgx.Conn, name string) ([]string, error) {
	rows, _ := db.Query(ctx, qEdgeSlots, sql.SlotPattern(name))
	var slots []string
	var slot string
	var active bool
	_, err := pgx.ForEachRow(rows, []any{&slot, &active}, func() error {
		slots = append(slots, slot)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the slots of edge %s: %w", name, err)
	}
	return slots, nil
}

// forgetEdge drops the edge's replication slots, waiting for their
// walsenders to exit, and its row in the edge table.
func forgetEdge(db *pgx.Conn, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	for {
		if _, err := db.Exec(ctx, qDropEdgeSlots, sql.SlotPattern(name)); err != nil {
			return fmt.Errorf("drop the slots of edge %s: %w", name, err)
		}
		slots, err := edgeSlots(ctx, db, name)
		if err != nil {
			return err
		}
		if len(slots) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("slots %s of edge %s are still in use", strings.Join(slots, ", "), name)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if _, err := db.Exec(ctx, qDeleteEdge, name); err != nil {
		return fmt.Errorf("forget edge %s: %w", name, err)
	}
	return nil
}

// WriteTable writes the result as a table.
func (r *BootstrapResult) WriteTable(w io.Writer) error {
	t := newTable("bootstrap of edge " + r.EdgeName)
	t.add("narinfos in the origin", fmtInt(r.Narinfos))
	t.add("ready after", fmtDuration(r.ReadyAfter))
	t.add("RSS once ready", fmtBytes(r.RSS))
	t.add("peak RSS", fmtBytes(r.PeakRSS))
	t.add("replica on disk", fmtBytes(r.ReplicaBytes))
	return t.write(w)
}
