package replica

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pglogrepl"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/replica/replicatest"
)

// fixture is what a test bootstraps a replica with: narinfos by hash, and
// NAR files by URL, each in store "1" under its URL.
type fixture struct {
	narinfos map[string]string
	urls     []string
}

func newFixture(narinfos, files int) fixture {
	f := fixture{narinfos: map[string]string{}}
	for range narinfos {
		h := testutil.RandomHash()
		f.narinfos[h] = "StorePath: /nix/store/" + h + "-x\nURL: nar/" + h + ".nar\n"
	}
	for range files {
		f.urls = append(f.urls, "nar/"+testutil.RandomHash()+testutil.RandomHash()+".nar.xz")
	}
	return f
}

// bootstrap loads f into a new replica in dir, as a bootstrap copy does.
func bootstrap(t *testing.T, dir string, f fixture, o Options) *Replica {
	t.Helper()
	r, err := Create(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	l := r.Load(len(f.narinfos), nil)
	set := func(table string, row map[string][]byte) {
		if err := l.Set(table, row); err != nil {
			t.Fatal(err)
		}
	}
	set("store", map[string][]byte{"id": []byte("1"), "name": []byte("local"), "base_url": []byte("http://origin.test"), "download_priority": []byte("50")})
	for _, u := range f.urls {
		set("payload_location", map[string][]byte{"url": []byte(u), "store_id": []byte("1"), "key": []byte(u)})
	}
	for h, b := range f.narinfos {
		set("narinfo", map[string][]byte{"hash": []byte(h), "body": []byte(b)})
	}
	if err := l.Finish(context.Background(), State{LSN: 100, Slot: "narthex_t_1", System: "s", LastCommit: time.Unix(1700000000, 0)}); err != nil {
		t.Fatal(err)
	}
	return r
}

func served(t *testing.T, r *Replica, hash string) (string, bool) {
	t.Helper()
	var b strings.Builder
	ok, err := r.WriteNarinfo(&b, []byte(hash))
	if err != nil {
		t.Fatalf("read %s: %v", hash, err)
	}
	return b.String(), ok
}

// urlsOf lists the download URLs Locations gives for url.
func urlsOf(r *Replica, url string) ([]string, error) {
	var got []string
	err := r.Locations([]byte(url), func(s *Store, key []byte) bool {
		prio := "unset"
		if s.DownloadPriority != nil {
			prio = fmt.Sprint(*s.DownloadPriority)
		}
		got = append(got, fmt.Sprintf("%s %s", s.AppendURL(nil, key), prio))
		return true
	})
	return got, err
}

func TestReplica_BootstrapThenTransactions(t *testing.T) {
	t.Parallel()
	f := newFixture(50, 3)
	dir := t.TempDir()
	r := bootstrap(t, dir, f, Options{MemoryCacheBytes: 1 << 20})
	for h, b := range f.narinfos {
		for range 2 { // the second from memory
			if got, ok := served(t, r, h); !ok || got != b {
				t.Fatalf("served %q %v, want %q", got, ok, b)
			}
		}
	}
	if _, ok := served(t, r, testutil.RandomHash()); ok {
		t.Fatal("an absent narinfo was served")
	}
	var some string
	for h := range f.narinfos {
		some = h
		break
	}
	tx := r.Begin()
	added := testutil.RandomHash()
	for _, err := range []error{
		tx.Upsert("narinfo", nil, map[string][]byte{"hash": []byte(some), "body": []byte("changed\n")}, nil),
		tx.Upsert("narinfo", nil, map[string][]byte{"hash": []byte(added), "body": []byte("added\n")}, nil),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := served(t, r, some); got != f.narinfos[some] {
		t.Fatalf("a transaction was seen before its commit: %q", got)
	}
	if err := tx.Commit(200, time.Unix(1800000000, 0)); err != nil {
		t.Fatal(err)
	}
	if got, _ := served(t, r, some); got != "changed\n" {
		t.Fatalf("after the update: %q", got)
	}
	if got, _ := served(t, r, added); got != "added\n" {
		t.Fatalf("after the insert: %q", got)
	}
	tx = r.Begin()
	if err := tx.Truncate("narinfo"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(300, time.Unix(1800000001, 0)); err != nil {
		t.Fatal(err)
	}
	if _, ok := served(t, r, some); ok {
		t.Fatal("served after truncate")
	}
	r.Close()

	r, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st, err := r.State()
	if err != nil {
		t.Fatal(err)
	}
	want := State{LSN: 300, Slot: "narthex_t_1", System: "s", LastCommit: time.Unix(1800000001, 0), Bootstrapped: true}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Fatalf("state after reopening (-want +got):\n%s", diff)
	}
}

func TestReplica_Locations(t *testing.T) {
	t.Parallel()
	f := newFixture(1, 2)
	r := bootstrap(t, t.TempDir(), f, Options{})
	defer r.Close()
	got, err := urlsOf(r, f.urls[0])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"http://origin.test/" + f.urls[0] + " 50"}, got); diff != "" {
		t.Fatalf("locations (-want +got):\n%s", diff)
	}
	if got, _ := urlsOf(r, "nar/absent.nar"); len(got) != 0 {
		t.Fatalf("absent file has locations %v", got)
	}
	// A store and a location naming it, in one transaction.
	tx := r.Begin()
	for _, err := range []error{
		tx.Upsert("store", nil, map[string][]byte{"id": []byte("2"), "name": []byte("near"), "base_url": []byte("http://near.test"), "download_priority": []byte("10")}, nil),
		tx.Upsert("payload_location", nil, map[string][]byte{"url": []byte(f.urls[0]), "store_id": []byte("2"), "key": []byte("k")}, nil),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(200, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, _ = urlsOf(r, f.urls[0])
	if diff := cmp.Diff([]string{"http://origin.test/" + f.urls[0] + " 50", "http://near.test/k 10"}, got); diff != "" {
		t.Fatalf("locations after adding a store (-want +got):\n%s", diff)
	}
	// The store and its locations leave together.
	tx = r.Begin()
	for _, err := range []error{
		tx.Delete("payload_location", map[string][]byte{"url": []byte(f.urls[0]), "store_id": []byte("2")}),
		tx.Delete("store", map[string][]byte{"id": []byte("2")}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(300, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, _ = urlsOf(r, f.urls[0])
	if diff := cmp.Diff([]string{"http://origin.test/" + f.urls[0] + " 50"}, got); diff != "" {
		t.Fatalf("locations after removing a store (-want +got):\n%s", diff)
	}
}

// A table that fails its checksum when the replica opens makes the replica
// report corruption once, and serve what it can still read, without
// ending the process.
func TestReplica_CorruptTableAtOpen(t *testing.T) {
	t.Parallel()
	f := newFixture(200, 1)
	dir := t.TempDir()
	bootstrap(t, dir, f, Options{}).Close()
	// The first hash is in the first block, far from the stores' block,
	// which must be readable for the replica to open.
	victim := slices.Min(slices.Collect(maps.Keys(f.narinfos)))
	replicatest.CorruptTable(t, dir, victim)

	var reports atomic.Int32
	r, err := Open(dir, Options{OnCorruption: func(error) { reports.Add(1) }})
	if err != nil {
		t.Fatalf("open of a replica with a corrupt table: %v", err)
	}
	defer r.Close()
	if !r.Corrupt() || reports.Load() != 1 {
		t.Fatalf("corrupt %v, %d reports; want corruption reported once", r.Corrupt(), reports.Load())
	}
	if _, err := r.WriteNarinfo(&strings.Builder{}, []byte(victim)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of a corrupt block: %v, want ErrCorrupt", err)
	}
	if got, err := urlsOf(r, f.urls[0]); err != nil || len(got) != 1 {
		t.Fatalf("locations outside the corrupt block: %v, %v", got, err)
	}
	if reports.Load() != 1 {
		t.Fatalf("%d corruption reports, want 1", reports.Load())
	}
}

// A block found corrupt by a read while serving fails that read, not the
// process, and is reported.
func TestReplica_CorruptBlockWhileServing(t *testing.T) {
	t.Parallel()
	f := newFixture(20, 400)
	dir := t.TempDir()
	bootstrap(t, dir, f, Options{}).Close()
	// Locations are not read at open: the damage is found by a redirect.
	// The middle location is in a block of locations only.
	slices.Sort(f.urls)
	victim := f.urls[len(f.urls)/2]
	replicatest.CorruptTable(t, dir, victim[10:40])

	var reports atomic.Int32
	r, err := Open(dir, Options{OnCorruption: func(error) { reports.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Corrupt() {
		t.Fatal("corruption reported before the damaged block was read")
	}
	for h, b := range f.narinfos {
		if got, ok := served(t, r, h); !ok || got != b {
			t.Fatalf("narinfo outside the damaged block: %q %v", got, ok)
		}
	}
	if _, err := urlsOf(r, victim); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("redirect through a corrupt block: %v, want ErrCorrupt", err)
	}
	if !r.Corrupt() || reports.Load() != 1 {
		t.Fatalf("corrupt %v, %d reports; want corruption reported once", r.Corrupt(), reports.Load())
	}
}

// A bootstrap of many chunks, merged into tables at the bottom level, takes
// transactions on top like any other.
func TestLoader_ManyChunksThenTransactions(t *testing.T) {
	defer func(n int, m uint64) { bootstrapChunkBytes, bootstrapTableBytes = n, m }(bootstrapChunkBytes, bootstrapTableBytes)
	bootstrapChunkBytes, bootstrapTableBytes = 64<<10, 16<<10
	f := newFixture(5000, 10)
	dir := t.TempDir()
	r := bootstrap(t, dir, f, Options{})
	defer r.Close()
	m := r.db.Metrics()
	if n := m.Levels[0].TablesCount; n != 0 {
		t.Fatalf("%d bootstrap tables in level 0, want all in the bottom level", n)
	}
	if n := m.Levels[len(m.Levels)-1].TablesCount; n < 2 {
		t.Fatalf("%d tables in the bottom level, want the bootstrap split in several", n)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "bootstrap-*")); len(left) > 0 {
		t.Errorf("bootstrap files left in the replica: %v", left)
	}
	want := map[string]string{}
	for h, b := range f.narinfos {
		want[h] = b
	}
	tx := r.Begin()
	n := 0
	for h := range f.narinfos {
		if n++; n > 100 {
			break
		}
		if err := tx.Delete("narinfo", map[string][]byte{"hash": []byte(h)}); err != nil {
			t.Fatal(err)
		}
		delete(want, h)
	}
	added := testutil.RandomHash()
	if err := tx.Upsert("narinfo", nil, map[string][]byte{"hash": []byte(added), "body": []byte("added\n")}, nil); err != nil {
		t.Fatal(err)
	}
	want[added] = "added\n"
	if err := tx.Commit(pglogrepl.LSN(200), time.Now()); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	if err := r.Narinfos(func(h string, b []byte) error { got[h] = string(b); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("replica differs from what was written (-want +got):\n%s", diff)
	}
}
