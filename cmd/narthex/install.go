package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/narthex-cache/narthex/pgcluster"
)

// postgresFinder finds and, when it may, installs PostgreSQL for narthex
// dev. Its fields are the machine's own outside tests.
type postgresFinder struct {
	find   func(binDir string) (string, error) // pgcluster.FindBinDir
	aptGet string                              // path of apt-get; "" when there is none
	root   bool                                // this process may install packages
	out    io.Writer                           // where installing is announced
}

func newPostgresFinder() postgresFinder {
	apt, _ := exec.LookPath("apt-get")
	return postgresFinder{find: pgcluster.FindBinDir, aptGet: apt, root: os.Geteuid() == 0, out: os.Stdout}
}

// findPostgres returns the folder of the PostgreSQL server binaries:
// binDir (--pg-bin) when given, else one found on this machine. When none
// is found and this process runs as root on a machine with apt-get, it
// installs the release's package, saying so; otherwise the error names the
// package to install.
func (pf postgresFinder) findPostgres(ctx context.Context, binDir string) (string, error) {
	dir, err := pf.find(binDir)
	switch {
	case err == nil:
		return dir, nil
	case binDir != "":
		return "", fmt.Errorf("--pg-bin: %w", err)
	case !errors.Is(err, pgcluster.ErrNotInstalled):
		return "", err
	case !pf.root || pf.aptGet == "":
		return "", fmt.Errorf("%w (or point --pg-bin at a folder holding initdb and postgres)", err)
	}
	pkg := pgcluster.ServerPackage()
	fmt.Fprintf(pf.out, "narthex dev: PostgreSQL was not found; installing %s with apt-get (running as root)\n", pkg)
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", pkg}} {
		cmd := exec.CommandContext(ctx, pf.aptGet, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("apt-get %s: %w", args[0], err)
		}
	}
	return pf.find("")
}
