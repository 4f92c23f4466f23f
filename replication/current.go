package replication

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A replica dir holds one replica per bootstrap, each in a folder named
// after its slot, and a file CURRENT naming the one in service.
const currentFile = "CURRENT"

func readCurrent(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, currentFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read current replica: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// writeCurrent points the replica dir at a new replica, atomically.
func writeCurrent(dir, name string) error {
	tmp := filepath.Join(dir, currentFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(name + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, currentFile)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeUnused deletes replicas other than current: ones replaced by a
// switch, and ones whose bootstrap a crash interrupted.
func removeUnused(dir, current string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() != current && strings.HasPrefix(e.Name(), "narthex_") {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
