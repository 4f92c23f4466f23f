package pgcluster

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
)

// DefaultBinDir is where Debian's postgresql-15 package installs the server
// binaries.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// ErrNotInstalled means initdb or postgres is missing from the binary
// directory.
var ErrNotInstalled = errors.New("postgresql server binaries not found")

// findBinDir returns the directory holding initdb and postgres: dir when set,
// else the directory of the postgres on PATH, else DefaultBinDir. Symlinks on
// PATH are resolved so that the directory is the installation's own, where
// initdb and postgres sit side by side.
func findBinDir(dir string) (string, error) {
	if dir == "" {
		dir = DefaultBinDir
		if path, err := exec.LookPath("postgres"); err == nil {
			if real, err := filepath.EvalSymlinks(path); err == nil {
				path = real
			}
			dir = filepath.Dir(path)
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("bin dir: %w", err)
	}
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := exec.LookPath(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("%w: %w", ErrNotInstalled, err)
		}
	}
	return dir, nil
}
