// Package replicafill builds a replica from rows, as a bootstrap copy of
// the origin would, for tests of the packages that read replicas. It must
// never be imported by non-test code.
package replicafill

import (
	"context"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/replica"
)

// Row is a row of a published table, its columns in their text form.
type Row struct {
	Table string
	Cols  map[string]string
}

// Load bootstraps a replica in a folder of the test holding rows, as a
// bootstrap copy of the origin would, and closes it when the test ends.
func Load(t testing.TB, o replica.Options, rows ...Row) *replica.Replica {
	t.Helper()
	rep, err := replica.Create(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close() })
	l := rep.Load(0, nil)
	for _, r := range rows {
		cols := map[string][]byte{}
		for k, v := range r.Cols {
			cols[k] = []byte(v)
		}
		if err := l.Set(r.Table, cols); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Finish(context.Background(), replica.State{LSN: 1, Slot: "narthex_t_1", System: "1", LastCommit: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return rep
}
