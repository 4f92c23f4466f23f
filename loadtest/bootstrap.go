package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
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
