package gc

import (
	"testing"
	"time"
)

// fenced sets up one collected payload whose tombstone waits behind the
// edges, and returns a run's report after the edges were set by setup.
func fencedRun(t *testing.T, setup func(e *env, slot, tombstoneLSN string)) (Report, *env) {
	e := newEnv(t)
	h := e.path("p", old)
	// First run: path swept, file retired, bytes fenced by an edge whose
	// slot confirmed nothing past its creation.
	slot := e.holdingSlot()
	rep := e.run(e.collector(Config{}), Options{})
	if len(e.present(h)) != 0 || rep.ObjectsFenced != 1 || e.objects() != 1 {
		t.Fatalf("first run %+v, %d objects: want the path gone and its bytes fenced", rep, e.objects())
	}
	e.exec(`DELETE FROM edge`)
	var lsn string
	if err := e.db.QueryRow(t.Context(), `SELECT lsn::text FROM payload_tombstone`).Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	setup(e, slot, lsn)
	return e.run(e.collector(Config{EdgeTimeout: time.Hour}), Options{}), e
}

func TestFence_EdgeStates(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(e *env, slot, lsn string)
		state     string
		holds     bool
		freed     int64
		remaining int
	}{
		{"no edges", func(e *env, slot, lsn string) {}, "", false, 1, 0},
		{"away within the timeout, behind the delete", func(e *env, slot, lsn string) {
			e.exec(`INSERT INTO edge (name, slot_name, last_seen) VALUES ('e', $1, now() - interval '10 minutes')`, slot)
		}, "away", true, 0, 1},
		{"past the timeout", func(e *env, slot, lsn string) {
			e.exec(`INSERT INTO edge (name, slot_name, last_seen) VALUES ('e', $1, now() - interval '2 hours')`, slot)
		}, "timed out", false, 1, 0},
		{"seen through its fetch counts", func(e *env, slot, lsn string) {
			e.exec(`INSERT INTO edge (name, slot_name, last_seen) VALUES ('e', $1, now() - interval '2 hours')`, slot)
			e.exec(`INSERT INTO fetch_batch (edge, seq, flushed_at) VALUES ('e', 1, now())`)
		}, "away", true, 0, 1},
		{"rebuilding, serving a replica from before the delete", func(e *env, slot, lsn string) {
			e.exec(`INSERT INTO edge (name, slot_name, rebuilding_since, serving_lsn) VALUES ('e', 'gone', now(), '0/1')`)
		}, "rebuilding", true, 0, 1},
		{"rebuilding, serving a replica from after the delete", func(e *env, slot, lsn string) {
			e.exec(`INSERT INTO edge (name, slot_name, rebuilding_since, serving_lsn) VALUES ('e', 'gone', now(), $1::pg_lsn + 1)`, lsn)
		}, "rebuilding", true, 1, 0},
		{"slot gone, not rebuilding yet", func(e *env, slot, lsn string) {
			e.exec(`INSERT INTO edge (name, slot_name) VALUES ('e', 'gone')`)
		}, "no slot", true, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, e := fencedRun(t, tt.setup)
			if rep.ObjectsFreed != tt.freed || e.objects() != tt.remaining {
				t.Errorf("freed %d objects, %d remain; want %d freed, %d remaining (report %+v)",
					rep.ObjectsFreed, e.objects(), tt.freed, tt.remaining, rep)
			}
			if tt.state == "" {
				if len(rep.Edges) != 0 || rep.Fence != "" {
					t.Errorf("edges %+v, fence %q; want none", rep.Edges, rep.Fence)
				}
				return
			}
			if len(rep.Edges) != 1 || rep.Edges[0].State != tt.state || rep.Edges[0].Holds != tt.holds {
				t.Errorf("edges %+v, want one %s, holding %v", rep.Edges, tt.state, tt.holds)
			}
		})
	}
}

// A key written again after its tombstone was made is not deleted: the
// writer dropped the tombstone (payload_write_begin), and a location
// recorded since is honoured even without that.
func TestFence_WrittenAgainIsKept(t *testing.T) {
	e := newEnv(t)
	e.path("p", old)
	e.holdingSlot()
	e.run(e.collector(Config{}), Options{})
	var url, key string
	if err := e.db.QueryRow(t.Context(), `SELECT url, key FROM payload_tombstone`).Scan(&url, &key); err != nil {
		t.Fatal(err)
	}
	// Uploaded again: the file and its location are recorded anew, as
	// the origin would, and the tombstone is left in place to show the
	// location check alone keeps the bytes.
	e.exec(`INSERT INTO nar_file (url, file_hash, file_size, compression) VALUES ($1, 'sha256:x', 1, 'none')`, url)
	e.exec(`INSERT INTO payload_location (url, store_id, key, size) VALUES ($1, $2, $3, 1)`, url, e.storeID, key)
	e.exec(`DELETE FROM edge`)
	rep := e.run(e.collector(Config{Grace: time.Hour}), Options{})
	if e.objects() != 1 || rep.ObjectsFreed != 0 {
		t.Errorf("%d objects, %d freed: the bytes of a key recorded again were deleted", e.objects(), rep.ObjectsFreed)
	}
	if n := e.count(`SELECT count(*) FROM payload_tombstone`); n != 0 {
		t.Errorf("%d tombstones left; the stale one should go", n)
	}
	// And a writer drops a tombstone before it writes.
	e.exec(`INSERT INTO payload_tombstone (url, store_id, key, size, lsn) VALUES ($1, $2, $3, 1, '0/1')`, url, e.storeID, key)
	e.exec(`SELECT payload_write_begin($1, $2, $3)`, url, e.storeID, key)
	if n := e.count(`SELECT count(*) FROM payload_tombstone`); n != 0 {
		t.Errorf("payload_write_begin left %d tombstones", n)
	}
	if n := e.count(`SELECT count(*) FROM nar_file_told WHERE url = $1`, url); n != 1 {
		t.Error("payload_write_begin did not mark the file told")
	}
}
