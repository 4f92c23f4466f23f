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

// window is how many bytes of a marker CorruptTable seeks and flips.
const window = 12

// CorruptTable flips bytes of the first table file (.sst) under dir that
// holds marker, where marker is stored, so that the block holding it fails
// its checksum. marker should be random (a store path hash is), and the
// replica must be closed. It returns the file it damaged.
//
// A block stores a key after the prefix it shares with the one before, and
// compression may replace a few bytes of it by a reference to earlier ones:
// what is sought is the first run of 12 bytes of marker stored verbatim.
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
		i := -1
		for w := 0; w+window <= len(marker) && i < 0; w++ {
			i = bytes.Index(b, []byte(marker[w:w+window]))
		}
		if i < 0 {
			return nil
		}
		for j := i; j < i+window; j++ {
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
