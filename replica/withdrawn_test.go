package replica

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
)

// A withdrawn narinfo is a miss, cached or not, and comes back with its
// body when an update that does not resend the body puts it in service.
func TestReplica_WithdrawnNarinfoIsAMissAndReturns(t *testing.T) {
	t.Parallel()
	for _, cache := range []int{0, 1 << 20} {
		f := newFixture(2, 0)
		var h, other string
		for k := range f.narinfos {
			if h == "" {
				h = k
			} else {
				other = k
			}
		}
		r := bootstrap(t, filepath.Join(t.TempDir(), "r"), f, Options{MemoryCacheBytes: cache})
		if _, ok := served(t, r, h); !ok {
			t.Fatal("not served before withdrawal")
		}
		lsn := uint64(200)
		commit := func(withdrawn string, unchanged []string) {
			t.Helper()
			row := map[string][]byte{"hash": []byte(h), "withdrawn": []byte(withdrawn)}
			if unchanged == nil {
				row["body"] = []byte(f.narinfos[h])
			}
			tx := r.Begin()
			if err := tx.Upsert("narinfo", nil, row, unchanged); err != nil {
				t.Fatal(err)
			}
			lsn++
			if err := tx.Commit(pglogrepl.LSN(lsn), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		commit("t", []string{"body"})
		if _, ok := served(t, r, h); ok {
			t.Fatalf("cache %d: withdrawn narinfo served", cache)
		}
		if body, ok := served(t, r, other); !ok || body != f.narinfos[other] {
			t.Fatalf("cache %d: another narinfo lost: %q %v", cache, body, ok)
		}
		var listed []string
		if err := r.Narinfos(func(hash string, _ []byte) error { listed = append(listed, hash); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(listed) != 1 || listed[0] != other {
			t.Fatalf("cache %d: Narinfos lists %v, want only %s", cache, listed, other)
		}
		// Back in service by an update that leaves the body unsent.
		commit("f", []string{"body"})
		if body, ok := served(t, r, h); !ok || body != f.narinfos[h] {
			t.Fatalf("cache %d: after return: %q %v, want the body", cache, body, ok)
		}
		// And withdrawn with the body sent, then a snapshot's spelling.
		commit("true", nil)
		if _, ok := served(t, r, h); ok {
			t.Fatalf("cache %d: withdrawn narinfo served", cache)
		}
		commit("false", nil)
		if body, ok := served(t, r, h); !ok || body != f.narinfos[h] {
			t.Fatalf("cache %d: after return: %q %v", cache, body, ok)
		}
	}
}
