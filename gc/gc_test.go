package gc

import (
	"errors"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/pglock"
)

const old = 48 * time.Hour

// graph is a small cache: a release rooted with its closure (which shares
// libc with everything), a CI build left unrooted on top of that closure,
// a fresh upload, and an orphan chain.
func graph(e *env) map[string]string {
	p := map[string]string{}
	p["libc"] = e.path("libc", old)
	p["zlib"] = e.path("zlib", old, p["libc"])
	p["app"] = e.path("app", old, p["zlib"], p["libc"])
	p["ci"] = e.path("ci", old, p["app"], p["libc"])
	p["ci-dep"] = e.path("ci-dep", old, p["libc"])
	p["ci2"] = e.path("ci2", old, p["ci-dep"], p["ci"])
	p["fresh"] = e.path("fresh", 0, p["ci-dep"])
	p["orphan1"] = e.path("orphan1", old)
	p["orphan2"] = e.path("orphan2", old, p["orphan1"])
	p["orphan3"] = e.path("orphan3", old, p["orphan2"])
	e.root("release", nil, p["app"])
	return p
}

func TestRun_RootsAndGraceKeepTheirClosures(t *testing.T) {
	e := newEnv(t)
	p := graph(e)
	rep := e.run(e.collector(Config{}), Options{})
	e.wantPresent(p, "libc", "zlib", "app", "fresh", "ci-dep")
	e.graphIntact()
	if rep.Garbage != 5 || rep.PathsSwept != 5 || rep.PathsKept != 0 {
		t.Errorf("report %+v: want 5 marked and swept, 0 kept", rep)
	}
	if rep.Live != 5 {
		t.Errorf("live %d, want 5", rep.Live)
	}
	// Each swept path's file went, location and bytes: no edge holds a
	// fence and the payload grace is nothing.
	if rep.FilesUnlisted != 5 || rep.FilesRetired != 5 || rep.ObjectsFreed != 5 {
		t.Errorf("report %+v: want 5 files unlisted, retired and freed", rep)
	}
	if got := e.objects(); got != 5 {
		t.Errorf("%d objects in the store, want 5", got)
	}
	if n := e.count(`SELECT count(*) FROM nar_file`); n != 5 {
		t.Errorf("%d nar_file rows, want 5", n)
	}
	if n := e.count(`SELECT count(*) FROM payload_tombstone`); n != 0 {
		t.Errorf("%d tombstones left", n)
	}
	// The run is recorded.
	if n := e.count(`SELECT count(*) FROM gc_run WHERE finished_at IS NOT NULL AND error = '' AND paths_swept = 5 AND objects_freed = 5`); n != 1 {
		t.Errorf("%d runs recorded as done with 5 swept", n)
	}
	// A second run finds nothing.
	rep = e.run(e.collector(Config{}), Options{})
	if rep.Garbage != 0 || rep.ObjectsFreed != 0 {
		t.Errorf("second run %+v, want nothing to do", rep)
	}
}

func TestRun_ExpiredRootStopsProtecting(t *testing.T) {
	e := newEnv(t)
	p := map[string]string{}
	p["a"] = e.path("a", old)
	p["b"] = e.path("b", old, p["a"])
	p["c"] = e.path("c", old)
	past, future := time.Now().Add(-time.Second), time.Now().Add(time.Hour)
	e.root("expired", &past, p["b"])
	e.root("pinned", &future, p["c"])
	rep := e.run(e.collector(Config{}), Options{})
	e.wantPresent(p, "c")
	if rep.RootsExpired != 1 {
		t.Errorf("roots expired %d, want 1", rep.RootsExpired)
	}
	if n := e.count(`SELECT count(*) FROM root WHERE name = 'expired'`); n != 0 {
		t.Error("the expired root is still there")
	}
}

func TestRun_KeepFetched(t *testing.T) {
	e := newEnv(t)
	p := map[string]string{}
	p["dep"] = e.path("dep", old)
	p["used"] = e.path("used", old, p["dep"])
	p["unused"] = e.path("unused", old)
	p["long-ago"] = e.path("long-ago", old)
	e.exec(`INSERT INTO path_last_fetched (hash, last_fetched) VALUES ($1, now() - interval '1 hour'), ($2, now() - interval '20 days'), ($3, now())`,
		p["used"], p["long-ago"], newHash())
	e.run(e.collector(Config{KeepFetched: 7 * 24 * time.Hour}), Options{})
	e.wantPresent(p, "dep", "used")
	if n := e.count(`SELECT count(*) FROM path_last_fetched`); n != 1 {
		t.Errorf("%d path_last_fetched rows, want only the kept path's", n)
	}
}

func TestRun_DryRunChangesNothing(t *testing.T) {
	e := newEnv(t)
	p := graph(e)
	past := time.Now().Add(-time.Second)
	e.root("expired", &past, p["orphan3"])
	var paths, files []string
	rep := e.run(e.collector(Config{}), Options{DryRun: true, List: func(kind, name, store string, size int64) {
		switch kind {
		case "path":
			paths = append(paths, name)
		case "file":
			files = append(files, name)
			if store != "disk" || size <= 0 {
				t.Errorf("file %s listed in store %q with size %d", name, store, size)
			}
		}
	}})
	if len(paths) != 5 || len(files) != 5 || rep.Garbage != 5 || rep.FilesUnlisted != 5 {
		t.Errorf("dry run listed %d paths and %d files, report %+v; want 5 each", len(paths), len(files), rep)
	}
	if len(rep.Stores) != 1 || rep.Stores[0].Files != 5 || rep.Stores[0].Bytes == 0 {
		t.Errorf("dry run stores %+v", rep.Stores)
	}
	e.wantPresent(p, "libc", "zlib", "app", "ci", "ci-dep", "ci2", "fresh", "orphan1", "orphan2", "orphan3")
	if n := e.count(`SELECT count(*) FROM root`); n != 2 {
		t.Errorf("%d roots after a dry run, want 2", n)
	}
	if n := e.count(`SELECT count(*) FROM gc_run`); n != 0 {
		t.Errorf("a dry run recorded %d runs", n)
	}
	if e.objects() != 10 {
		t.Errorf("a dry run deleted objects")
	}
}

func TestRun_OneCollectorAtATime(t *testing.T) {
	e := newEnv(t)
	c := e.collector(Config{Name: "first collector"})
	conn, err := pglock.TryLock(t.Context(), e.db.Config().ConnConfig, lockKey, "first collector", ErrLocked)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	_, err = c.Run(t.Context(), Options{})
	var held *pglock.LockedError
	if !errors.As(err, &held) || !errors.Is(err, ErrLocked) || held.ApplicationName != "first collector" {
		t.Fatalf("second collector: %v, want a LockedError naming the first", err)
	}
}
