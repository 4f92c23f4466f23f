package replica

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pglogrepl"
)

// statesOf lists every copy of the file at url as "store key state".
func statesOf(t *testing.T, r *Replica, url string) []string {
	t.Helper()
	var got []string
	if err := r.EachLocation([]byte(url), func(s *Store, key []byte, st LocationState) bool {
		got = append(got, fmt.Sprintf("%s %s %s", s.Name, key, st))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// A location's state comes with the bootstrap copy (absent: good, as rows
// from before states were published), changes with an UPDATE, and only
// good copies are given to Locations; with the memory cache on, no list
// of copies outlives the transaction that changed it.
func TestReplica_LocationStates(t *testing.T) {
	t.Parallel()
	for _, cache := range []int{0, 1 << 20} {
		t.Run(fmt.Sprintf("memory cache %d", cache), func(t *testing.T) {
			t.Parallel()
			testLocationStates(t, Options{MemoryCacheBytes: cache})
		})
	}
}

func testLocationStates(t *testing.T, o Options) {
	r, err := Create(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const url = "nar/1py0ql2r3fvf5h8h9xh2fdsxkizwb8p4wgfa848nlfiv612sv3vr.nar.xz"
	l := r.Load(0, nil)
	for _, row := range []map[string]string{
		{"id": "1", "name": "disk", "base_url": "http://disk.test"},
		{"id": "2", "name": "eu", "base_url": "http://eu.test"},
		{"id": "3", "name": "asia", "base_url": "http://asia.test"},
	} {
		if err := l.Set("store", bytesRow(row)); err != nil {
			t.Fatal(err)
		}
	}
	for _, row := range []map[string]string{
		{"url": url, "store_id": "1", "key": "k1"}, // no state: good
		{"url": url, "store_id": "2", "key": "k2", "state": "good"},
		{"url": url, "store_id": "3", "key": "k3", "state": "corrupt"},
	} {
		if err := l.Set("payload_location", bytesRow(row)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Finish(context.Background(), State{LSN: 1, Slot: "narthex_t_1", System: "s"}); err != nil {
		t.Fatal(err)
	}
	check := func(when string, want, wantGood []string) {
		t.Helper()
		if diff := cmp.Diff(want, statesOf(t, r, url)); diff != "" {
			t.Errorf("%s: locations (-want +got):\n%s", when, diff)
		}
		var good []string
		if err := r.Locations([]byte(url), func(s *Store, key []byte) bool {
			good = append(good, s.Name)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantGood, good); diff != "" {
			t.Errorf("%s: good locations (-want +got):\n%s", when, diff)
		}
	}
	check("bootstrapped", []string{"disk k1 good", "eu k2 good", "asia k3 corrupt"}, []string{"disk", "eu"})

	lsn := pglogrepl.LSN(10)
	update := func(storeID, key, state string) {
		t.Helper()
		tx := r.Begin()
		row := bytesRow(map[string]string{"url": url, "store_id": storeID, "key": key, "state": state})
		if err := tx.Upsert("payload_location", nil, row, nil); err != nil {
			t.Fatal(err)
		}
		lsn++
		if err := tx.Commit(lsn, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	update("1", "k1", "missing")
	check("disk's copy missing", []string{"disk k1 missing", "eu k2 good", "asia k3 corrupt"}, []string{"eu"})
	update("2", "k2", "corrupt")
	check("no good copy", []string{"disk k1 missing", "eu k2 corrupt", "asia k3 corrupt"}, nil)
	update("1", "k1", "good")
	update("3", "k3-new", "good")
	check("good again", []string{"disk k1 good", "eu k2 corrupt", "asia k3-new good"}, []string{"disk", "asia"})
	update("2", "k2", "quarantined") // a state from a newer origin
	check("unknown state", []string{"disk k1 good", "eu k2 unknown", "asia k3-new good"}, []string{"disk", "asia"})

	tx := r.Begin()
	if err := tx.Delete("payload_location", bytesRow(map[string]string{"url": url, "store_id": "1"})); err != nil {
		t.Fatal(err)
	}
	lsn++
	if err := tx.Commit(lsn, time.Now()); err != nil {
		t.Fatal(err)
	}
	check("a copy deleted", []string{"eu k2 unknown", "asia k3-new good"}, []string{"asia"})
	tx = r.Begin()
	if err := tx.Truncate("payload_location"); err != nil {
		t.Fatal(err)
	}
	lsn++
	if err := tx.Commit(lsn, time.Now()); err != nil {
		t.Fatal(err)
	}
	check("truncated", nil, nil)
}

func TestLocationValue_RefusesANulKey(t *testing.T) {
	t.Parallel()
	if _, err := locationValue(bytesRow(map[string]string{"key": "\x00\x01x", "state": "good"})); err == nil {
		t.Fatal("a key starting with NUL was stored")
	}
}

func bytesRow(m map[string]string) map[string][]byte {
	row := map[string][]byte{}
	for k, v := range m {
		row[k] = []byte(v)
	}
	return row
}
