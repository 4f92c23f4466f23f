// Package replicatest holds what tests of several packages do with a
// replica: build one from rows without PostgreSQL, and damage one of its
// table files as a failing disk would. It must never be imported by
// non-test code.
package replicatest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/replica"
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

// Row is a published row: its table and its columns as text.
type Row struct {
	Table string
	Cols  map[string]string
}

// Build bootstraps a replica in a temporary folder with rows, as a
// bootstrap copy of the origin would, and closes it when the test ends.
func Build(t testing.TB, rows ...Row) *replica.Replica {
	t.Helper()
	rep, err := replica.Create(t.TempDir(), replica.Options{MemoryCacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close() })
	l := rep.Load(len(rows), nil)
	for _, r := range rows {
		cols := make(map[string][]byte, len(r.Cols))
		for k, v := range r.Cols {
			cols[k] = []byte(v)
		}
		if err := l.Set(r.Table, cols); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Finish(t.Context(), replica.State{LSN: 1, Slot: "narthex_test_00000000", System: "1", LastCommit: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return rep
}
