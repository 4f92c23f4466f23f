package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/narthex-cache/narthex/pgcluster"
)

// findPostgres returns the folder of the PostgreSQL server binaries for
// narthex dev: binDir (--pg-bin) when given, else one found on this machine.
// When none is found and this process runs as root on a machine with
// apt-get, it installs the distribution's package, saying so; otherwise the
// error names the package to install.
func findPostgres(ctx context.Context, binDir string) (string, error) {
	dir, err := pgcluster.FindBinDir(binDir)
	if err == nil || binDir != "" || !errors.Is(err, pgcluster.ErrNotInstalled) {
		if err != nil && binDir != "" {
			return "", fmt.Errorf("--pg-bin: %w", err)
		}
		return dir, err
	}
	apt, aptErr := exec.LookPath("apt-get")
	if os.Geteuid() != 0 || aptErr != nil {
		return "", fmt.Errorf("%w (or point --pg-bin at a folder holding initdb and postgres)", err)
	}
	pkg := pgcluster.ServerPackage()
	fmt.Printf("narthex dev: PostgreSQL was not found; installing %s with apt-get (running as root)\n", pkg)
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", pkg}} {
		cmd := exec.CommandContext(ctx, apt, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("apt-get %s: %w", args[0], err)
		}
	}
	return pgcluster.FindBinDir("")
}
