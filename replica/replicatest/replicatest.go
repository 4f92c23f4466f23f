// Package replicatest holds what tests of several packages do to a replica
// on disk: damage one of its table files as a failing disk would. It must
// never be imported by non-test code.
package replicatest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CorruptTable flips bytes of the first table file (.sst) under dir that
// holds marker, where marker is stored, so that the block holding it fails
// its checksum. marker should be random enough to be stored verbatim (a
// store path hash is), and the replica must be closed. It returns the file
// it damaged.
func CorruptTable(t testing.TB, dir, marker string) string {
	t.Helper()
	var found string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || found != "" || d.IsDir() || !strings.HasSuffix(path, ".sst") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		i := bytes.Index(b, []byte(marker))
		if i < 0 {
			return nil
		}
		for j := i; j < i+len(marker); j++ {
			b[j] ^= 0x5a
		}
		found = path
		return os.WriteFile(path, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == "" {
		t.Fatalf("no table file under %s holds %q", dir, marker)
	}
	return found
}
