package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// initdb creates the data directory unless it holds a cluster already.
//
// initdb writes into a scratch folder that is renamed to Dir/data once it has
// succeeded, so Dir/data/PG_VERSION exists only for a complete cluster, and a
// run cut short leaves scratch that the next run removes. An existing
// Dir/data without PG_VERSION is left alone: the rename fails unless it is
// empty.
//
// initdb has no parent-death signal: it is short, is bounded by ctx, and
// writes only into the scratch folder. It runs in a process group of its
// own, so a Ctrl-C in the terminal reaches only this process, which ends
// initdb through ctx; its output (the FATAL lines of a killed run) is then
// dropped, since the caller asked for the stop.
func (c *Cluster) initdb(ctx context.Context) error {
	_, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION"))
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("initdb: %w", err)
	}
	scratch := c.dataDir + ".initdb"
	if err := os.RemoveAll(scratch); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, "initdb"),
		"-D", scratch,
		"-U", "postgres",
		"--auth=trust",
		"-E", "UTF8",
		"--locale=C",
		"--no-sync", // dev and test clusters trade crash safety for speed
		"--no-instructions",
	)
	cmd.Dir = c.dir
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.acct.cred, Setpgid: true}
	if out, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("initdb: %w", context.Cause(ctx))
		}
		return fmt.Errorf("initdb: %w\n%s", err, indent(out))
	}
	if err := os.Rename(scratch, c.dataDir); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	c.log.Info("initialized data directory", "data", c.dataDir)
	return nil
}
