package maintain

import (
	"strings"
	"testing"
	"time"
)

// A store draining into a named target ends empty, its files good in the
// target, records first.
func TestMaintainer_DrainToNamedStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("new", "upload_priority = 1")
	e.store("other", "upload_priority = 100")
	e.store("old", "")
	e.exec(`UPDATE store SET drain = true, drain_to = $1 WHERE name = 'old'`, e.ids["new"])
	var ns []nar
	for i := range 4 {
		n := e.file(500+i, time.Hour)
		e.put("old", n)
		ns = append(ns, n)
	}
	// A location already marked missing just goes.
	gone := e.file(100, time.Hour)
	e.put("new", gone)
	e.exec(`INSERT INTO payload_location (url, store_id, key, size, state) VALUES ($1, $2, $1, 100, 'missing')`, gone.url, e.ids["old"])
	sum := e.run(e.maintainer(Config{}), "")
	e.holds("old")
	e.holds("new", append(ns, gone)...)
	e.holds("other")
	if j := jobOf(t, sum, "old", KindDrain); j.Done != 5 || j.Failed != 0 {
		t.Errorf("drain job %+v, want 5 done", j)
	}
	if e.puts("new") != 4 {
		t.Errorf("new took %d Puts, want 4", e.puts("new"))
	}
	for _, n := range ns {
		if e.withdrawn(n) {
			t.Errorf("%s withdrawn after the drain", n.url)
		}
	}
}

// Without a named target, a drain follows the upload rules: highest
// upload priority first among the stores that take writes, never past a
// target's soft_max_size, then the next.
func TestMaintainer_DrainByUploadRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("old", "drain = true, upload_priority = 1000")
	e.store("ro", "read_only = true, upload_priority = 900")
	e.store("wo", "write_only = true, upload_priority = 800")
	e.store("draining", "drain = true, upload_priority = 700")
	e.store("first", "upload_priority = 50, soft_max_size = 2500, max_size = 100000")
	e.store("second", "upload_priority = 10")
	e.store("unset", "")
	var ns []nar
	for range 5 {
		n := e.file(1000, time.Hour)
		e.put("old", n)
		ns = append(ns, n)
	}
	sum := e.run(e.maintainer(Config{Jobs: 1}), "")
	e.holds("old")
	for _, name := range []string{"ro", "wo", "draining", "unset"} {
		e.holds(name)
	}
	first, second := e.states("first"), e.states("second")
	if len(first) != 2 || len(second) != 3 {
		t.Errorf("first holds %d files, second %d; want 2 (its soft limit) and 3", len(first), len(second))
	}
	if u := e.usage("first"); u > 2500 {
		t.Errorf("first holds %d bytes, past its soft_max_size 2500", u)
	}
	if j := jobOf(t, sum, "old", KindDrain); j.Done != 5 || j.Bytes != 5000 {
		t.Errorf("drain job %+v, want 5 done, 5000 bytes", j)
	}
}

// With no store to take its files, a draining store keeps them, and the
// error names it. A copy with a good copy elsewhere clients download from
// is just removed; the last good copy never is, nor the last one clients
// can download when the only other copy is a write-only backup's.
func TestMaintainer_DrainWithoutTarget(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("old", "drain = true")
	e.store("ro", "read_only = true")
	e.store("backup", "write_only = true")
	only := e.file(100, time.Hour)
	e.put("old", only)
	backedUp := e.file(200, time.Hour)
	e.put("old", backedUp)
	e.put("backup", backedUp)
	elsewhere := e.file(300, time.Hour)
	e.put("old", elsewhere)
	e.put("ro", elsewhere)

	sum := e.run(e.maintainer(Config{}), "")
	e.holds("old", only, backedUp)
	e.holds("ro", elsewhere)
	e.holds("backup", backedUp)
	j := jobOf(t, sum, "old", KindDrain)
	if j.Done != 1 || j.Failed != 2 || !strings.Contains(j.Error, "no eligible target") {
		t.Errorf("drain job %+v; want 1 done, 2 failed for want of a target", j)
	}
	if !e.logs.contains(`level=ERROR msg="a draining store keeps files no other store can take" component=maintain store=old`) {
		t.Errorf("no error naming the drained store in the logs:\n%s", e.logs.String())
	}
	for _, n := range []nar{only, backedUp, elsewhere} {
		if e.withdrawn(n) {
			t.Errorf("%s withdrawn", n.url)
		}
	}
	var jobErr string
	e.db.QueryRow(t.Context(), `SELECT error FROM store_job WHERE kind = 'drain'`).Scan(&jobErr)
	if !strings.Contains(jobErr, "no eligible target") {
		t.Errorf("drain job row's error %q does not say why", jobErr)
	}
}

// A drain into a write-only store, which would take the files out of
// clients' reach, is refused and recorded.
func TestMaintainer_DrainIntoWriteOnlyRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("backup", "write_only = true")
	e.store("old", "")
	e.exec(`UPDATE store SET drain = true, drain_to = $1 WHERE name = 'old'`, e.ids["backup"])
	n := e.file(100, time.Hour)
	e.put("old", n)
	sum := e.run(e.maintainer(Config{}), "")
	e.holds("old", n)
	e.holds("backup")
	if j := jobOf(t, sum, "old", KindDrain); !strings.Contains(j.Error, "backup is write_only") {
		t.Errorf("drain job %+v does not say why", j)
	}
}

// A store past its soft_max_size moves its oldest files out until it is
// under: a file with another good copy clients download from is just
// removed, the others go to the store the upload rules choose.
func TestMaintainer_Evict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("hot", "upload_priority = 100")
	e.store("cold", "upload_priority = 1")
	e.store("mirror", "read_only = true")
	var ns []nar
	for i := range 6 {
		n := e.file(1000, time.Duration(6-i)*time.Hour) // ns[0] oldest
		e.put("hot", n)
		ns = append(ns, n)
	}
	e.put("mirror", ns[1])
	e.exec(`UPDATE store SET soft_max_size = 3500 WHERE name = 'hot'`)

	sum := e.run(e.maintainer(Config{Jobs: 2}), "")
	e.holds("hot", ns[3:]...)
	e.holds("cold", ns[0], ns[2])
	e.holds("mirror", ns[1])
	if e.puts("cold") != 2 {
		t.Errorf("cold took %d Puts, want 2", e.puts("cold"))
	}
	if j := jobOf(t, sum, "hot", KindEvict); j.Total != 3 || j.Done != 3 {
		t.Errorf("evict job %+v, want 3 of 3", j)
	}
	// Under its limit, it is left alone.
	sum = e.run(e.maintainer(Config{}), "")
	for _, j := range sum.Jobs {
		if j.Kind == KindEvict {
			t.Errorf("an eviction ran under the soft limit: %+v", j)
		}
	}
}
