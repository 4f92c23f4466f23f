package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// staleLockWait bounds how long Start waits for an old server to leave the
// data directory.
const staleLockWait = 10 * time.Second

// clearStaleLock removes the lock file at path (Dir/data/postmaster.pid, or
// the unix socket's .lock) unless the process it names serves dataDir.
//
// PostgreSQL ignores a lock whose process is gone, but after a crash the pid
// may belong to a new process by now, often a server of another cluster run
// by the same user, and PostgreSQL would then refuse to start. A process
// serves dataDir when its working directory is dataDir: the postmaster and
// its children run there. While one does, clearStaleLock waits, since a
// postmaster whose parent died is shutting down, and after staleLockWait it
// refuses: the data directory belongs to a running server.
func clearStaleLock(ctx context.Context, path, dataDir string) error {
	deadline := time.Now().Add(staleLockWait)
	for {
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read lock file: %w", err)
		}
		// The first line is the pid, negative for a single-user backend.
		line, _, _ := bytes.Cut(b, []byte("\n"))
		pid, _ := strconv.Atoi(string(bytes.TrimSpace(line)))
		pid = max(pid, -pid)
		if pid == 0 || !servesDir(pid, dataDir) {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove stale lock file: %w", err)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("data directory %s is in use by process %d", dataDir, pid)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for process %d to leave %s: %w", pid, dataDir, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// servesDir reports whether process pid runs in dir. A process that is gone,
// or that this process may not inspect, does not: PostgreSQL cannot signal
// such a process either, and treats its lock as stale.
func servesDir(pid int, dir string) bool {
	cwd, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd")
	if err != nil {
		return false
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	return cwd == dir
}
