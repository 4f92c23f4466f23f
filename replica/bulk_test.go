package replica

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/google/go-cmp/cmp"
)

// The bulk writer's output is the sorted, deduplicated set of its input
// however the input is cut into runs and the runs into merge ranges.
func TestBulkWriter_MergesRunsIntoDisjointTables(t *testing.T) {
	defer func(n int, m uint64) { bootstrapChunkBytes, bootstrapTableBytes = n, m }(bootstrapChunkBytes, bootstrapTableBytes)
	bootstrapChunkBytes, bootstrapTableBytes = 8<<10, 4<<10
	for _, procs := range []int{1, 2, 5} {
		t.Run(fmt.Sprintf("ranges=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			rep, err := Create(t.TempDir(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer rep.Close()
			want := map[string]string{}
			w := &bulkWriter{rep: rep}
			rnd := rand.New(rand.NewPCG(1, uint64(procs)))
			for i := range 3000 {
				// Store and location rows first, as the copy sends them,
				// then narinfos; every tenth narinfo is copied twice.
				var k []byte
				switch {
				case i < 100:
					k = storeKey(fmt.Sprint(i))
				case i < 600:
					k = locationKey(fmt.Sprintf("nar/%d.nar.xz", rnd.Int()), "1")
				default:
					k = narinfoKey([]byte(fmt.Sprintf("%032d", rnd.Int64())))
				}
				v := fmt.Sprintf("value %d %s", i, make([]byte, rnd.IntN(300)))
				if _, dup := want[string(k)]; dup {
					continue
				}
				want[string(k)] = v
				if err := w.set(k, []byte(v)); err != nil {
					t.Fatal(err)
				}
				if i%10 == 0 && i >= 600 {
					if err := w.set(k, []byte(v)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := w.finish(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(w.runs) < 10 {
				t.Fatalf("%d runs, want the input spilled in many", len(w.runs))
			}
			got := map[string]string{}
			it, err := rep.db.NewIter(&pebble.IterOptions{UpperBound: []byte{0xff}})
			if err != nil {
				t.Fatal(err)
			}
			for it.First(); it.Valid(); it.Next() {
				got[string(it.Key())] = string(it.Value())
			}
			if err := it.Close(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("replica differs from the rows written (-want +got):\n%s", diff)
			}
			m := rep.db.Metrics()
			if n := m.Levels[0].TablesCount; n != 0 {
				t.Fatalf("%d tables in level 0, want every table in the bottom level", n)
			}
		})
	}
}
