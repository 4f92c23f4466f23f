package maintain

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/narinfo"
)

// A populated store gets exactly the files it lacks, each from the best
// good copy: a corrupt source is marked and the next one used, and a file
// only a write-only backup holds is copied from there.
func TestMaintainer_Populate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("src", "download_priority = 10")
	e.store("backup", "write_only = true")
	e.store("mirror", "populate = true")
	var all []nar
	for i := range 5 {
		n := e.file(1000+i, time.Hour)
		e.put("src", n)
		all = append(all, n)
	}
	onlyBackup := e.file(700, time.Hour)
	e.put("backup", onlyBackup)
	all = append(all, onlyBackup)
	// The mirror holds one already; a corrupt copy in src falls back to
	// the backup's.
	e.put("mirror", all[0])
	bad := all[1]
	e.put("backup", bad)
	b := append([]byte(nil), bad.data...)
	b[10] ^= 1
	if err := os.WriteFile(e.path("src", bad), b, 0o644); err != nil {
		t.Fatal(err)
	}

	m := e.maintainer(Config{VerifySample: VerifyNone})
	sum := e.run(m, "")
	e.holds("mirror", all...)
	if got := e.puts("mirror"); got != 5 {
		t.Errorf("mirror took %d Puts, want 5 (one per file it lacked)", got)
	}
	if got := e.states("src")[bad.url]; got != "corrupt" {
		t.Errorf("src's corrupt copy is %q, want corrupt", got)
	}
	j := jobOf(t, sum, "mirror", KindPopulate)
	want := Progress{Store: "mirror", Kind: KindPopulate, Total: 5, Done: 5, Finished: true}
	for _, n := range all[1:] {
		want.Bytes += int64(len(n.data))
	}
	if j.Progress != want || j.Error != "" {
		t.Errorf("populate job %+v, want %+v", j, want)
	}
	var unverified, open int
	e.db.QueryRow(t.Context(), `SELECT count(*) FROM payload_location WHERE store_id = $1 AND verified_at IS NULL`, e.ids["mirror"]).Scan(&unverified)
	e.db.QueryRow(t.Context(), `SELECT count(*) FROM store_job WHERE finished_at IS NULL OR (kind = 'populate' AND (total, done) <> (5, 5))`).Scan(&open)
	if unverified != 1 || open != 0 {
		t.Errorf("%d unverified locations in mirror (want only the one put by hand), %d jobs open or wrong", unverified, open)
	}

	// A second pass finds nothing to do.
	sum = e.run(m, "")
	if len(sum.Jobs) != 0 || e.puts("mirror") != 5 {
		t.Errorf("second pass ran %+v and %d Puts in all", sum.Jobs, e.puts("mirror"))
	}
}

// Population stops at the target's soft_max_size (and so under its
// max_size), newest files first, and says the store is full.
func TestMaintainer_PopulateStopsAtSoftLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("src", "")
	e.store("small", "populate = true, soft_max_size = 3500, max_size = 10000")
	var ns []nar
	for i := range 6 {
		n := e.file(1000, time.Duration(i+1)*time.Hour) // ns[0] newest
		e.put("src", n)
		ns = append(ns, n)
	}
	m := e.maintainer(Config{Jobs: 1})
	sum := e.run(m, "")
	e.holds("small", ns[:3]...)
	if u := e.usage("small"); u > 3500 {
		t.Errorf("small holds %d bytes, past its soft_max_size 3500", u)
	}
	j := jobOf(t, sum, "small", KindPopulate)
	if j.Done != 3 || !strings.Contains(j.Error, "no room") || !strings.Contains(j.Error, "soft_max_size 3500") {
		t.Errorf("populate job %+v; want 3 done and the limit named", j)
	}
	var reservations int
	e.db.QueryRow(t.Context(), `SELECT count(*) FROM store_reservation`).Scan(&reservations)
	if reservations != 0 {
		t.Errorf("%d reservations left after the pass", reservations)
	}
}

// A pass stopped midway and run again copies every file exactly once and
// leaves nothing missing: what is left is read from payload_location.
func TestMaintainer_PopulateResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("src", "")
	e.store("mirror", "populate = true")
	var ns []nar
	for range 60 {
		n := e.file(2000, time.Hour)
		e.put("src", n)
		ns = append(ns, n)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	mirror := e.dirs["mirror"]
	e.wrapPut = func(_ context.Context, dir string) error {
		if dir == mirror && e.puts("mirror") >= 20 {
			cancel()
		}
		return nil
	}
	m := e.maintainer(Config{Jobs: 3})
	if _, err := m.RunOnce(ctx, ""); err == nil {
		t.Fatal("a pass stopped midway returned no error")
	}
	first := e.puts("mirror")
	if first < 20 || first >= 60 {
		t.Fatalf("first pass committed %d Puts, want it stopped midway", first)
	}
	var stopped string
	e.db.QueryRow(t.Context(), `SELECT error FROM store_job WHERE kind = 'populate'`).Scan(&stopped)
	if stopped != "stopped" {
		t.Errorf("stopped job's error %q, want \"stopped\"", stopped)
	}
	e.wrapPut = nil
	sum := e.run(m, "")
	e.holds("mirror", ns...)
	if got := e.puts("mirror"); got != 60 {
		t.Errorf("%d Puts committed in all, want 60: a file was copied twice", got)
	}
	if j := jobOf(t, sum, "mirror", KindPopulate); j.Total != 60-first || j.Done != j.Total {
		t.Errorf("second populate job %+v, want %d done of %d", j, 60-first, 60-first)
	}
}

// Run passes until stopped: a file uploaded after the first pass is
// copied by a later one.
func TestMaintainer_Run(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("src", "")
	e.store("mirror", "populate = true")
	a := e.file(100, time.Hour)
	e.put("src", a)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.maintainer(Config{}).Run(ctx, 20*time.Millisecond) }()
	testutil.Eventually(t, "the first file in the mirror", time.Minute, func() bool { return e.states("mirror")[a.url] == "good" })
	b := e.file(100, time.Hour)
	e.put("src", b)
	testutil.Eventually(t, "the second file in the mirror", time.Minute, func() bool { return e.states("mirror")[b.url] == "good" })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v when stopped", err)
	}
	e.holds("mirror", a, b)
}

// A store that takes no writes, or is draining, is not populated.
func TestMaintainer_PopulateNotIntoReadOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("src", "")
	e.store("ro", "populate = true, read_only = true")
	e.store("draining", "populate = true, drain = true")
	e.put("src", e.file(100, time.Hour))
	e.run(e.maintainer(Config{}), "")
	e.holds("ro")
	e.holds("draining")
	if !e.logs.contains("store=ro") || !e.logs.contains("store=draining") {
		t.Errorf("no warning naming the stores:\n%s", e.logs.String())
	}
}

// The room uploads in flight reserved counts: a copy never takes a store
// past its max_size beside them, and a reservation that lapsed (its
// holder died) does not count.
func TestMaintainer_PopulateCountsUploadsInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("src", "")
	e.store("small", "populate = true, max_size = 5000")
	for range 5 {
		e.put("src", e.file(1000, time.Hour))
	}
	e.exec(`INSERT INTO store_reservation (store_id, bytes, holder) VALUES ($1, 2000, 'origin-live')`, e.ids["small"])
	e.exec(`INSERT INTO store_reservation (store_id, bytes, holder, renewed_at) VALUES ($1, 3000, 'origin-dead', now() - interval '1 hour')`, e.ids["small"])
	e.run(e.maintainer(Config{Jobs: 2}), "")
	if n, u := len(e.states("small")), e.usage("small"); n != 3 || u != 3000 {
		t.Errorf("small holds %d files, %d bytes; want 3, 3000 beside the 2000 reserved", n, u)
	}
	var holders []string
	rows, _ := e.db.Query(t.Context(), `SELECT holder FROM store_reservation`)
	for rows.Next() {
		var h string
		rows.Scan(&h)
		holders = append(holders, h)
	}
	if len(holders) != 1 || holders[0] != "origin-live" {
		t.Errorf("reservations left: %v, want only the live upload's", holders)
	}
}

// Copies that cannot be recorded are counted failed and give their room
// back; the next pass finds them in the store and records them without
// copying them again.
func TestMaintainer_PopulateRecordFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("src", "")
	e.store("mirror", "populate = true, max_size = 1000000")
	const files = maxFailuresInARow - 1 // the job does not give up
	var ns []nar
	for range files {
		n := e.file(1000, time.Hour)
		e.put("src", n)
		ns = append(ns, n)
	}
	e.exec(`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE 'refused'; END $$`)
	e.exec(`CREATE TRIGGER refuse BEFORE INSERT ON payload_location FOR EACH ROW WHEN (NEW.store_id = ` +
		strconv.Itoa(int(e.ids["mirror"])) + `) EXECUTE FUNCTION refuse()`)
	m := e.maintainer(Config{Jobs: 4, VerifySample: VerifyNone})
	sum := e.run(m, "")
	if j := jobOf(t, sum, "mirror", KindPopulate); j.Done != 0 || j.Failed != files || !strings.Contains(j.Error, "refused") {
		t.Errorf("populate job %+v, want %d failed, refused", j, files)
	}
	if n := len(e.states("mirror")); n != 0 {
		t.Errorf("%d locations recorded in mirror, want none", n)
	}
	var held int
	e.db.QueryRow(t.Context(), `SELECT count(*) FROM store_reservation`).Scan(&held)
	if held != 0 || e.usage("mirror") != 0 {
		t.Errorf("%d reservations held and %d bytes used after the failed records, want none", held, e.usage("mirror"))
	}
	if got := e.puts("mirror"); got != files {
		t.Fatalf("mirror took %d Puts, want %d", got, files)
	}

	e.exec(`DROP TRIGGER refuse ON payload_location`)
	sum = e.run(m, "")
	e.holds("mirror", ns...)
	if got := e.puts("mirror"); got != files {
		t.Errorf("mirror took %d Puts in all, want %d: a copy made but not recorded was made again", got, files)
	}
	if j := jobOf(t, sum, "mirror", KindPopulate); j.Done != files || j.Bytes != 0 {
		t.Errorf("second populate job %+v, want %d done, 0 bytes written", j, files)
	}
}

// A copy into a store where garbage collection left a key's old bytes to
// delete (a tombstone behind the edges' fence) drops that decision first:
// the new copy is never deleted by it.
func TestMaintainer_PopulateDropsTombstoneOfItsKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("src", "download_priority = 10")
	e.store("mirror", "populate = true")
	n := e.file(900, time.Hour)
	e.put("src", n)
	e.exec(`INSERT INTO payload_tombstone (url, store_id, key, size, lsn) VALUES ($1, $2, $3, 900, '0/1')`,
		n.url, e.ids["mirror"], narinfo.URLKey(n.url))
	e.exec(`INSERT INTO payload_tombstone (url, store_id, key, size, lsn) VALUES ($1, $2, $3, 900, '0/1')`,
		n.url, e.ids["src"], "nar/another-key")
	e.run(e.maintainer(Config{VerifySample: VerifyNone}), "")
	e.holds("mirror", n)
	var left []string
	rows, err := e.db.Query(t.Context(), `SELECT key FROM payload_tombstone ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		rows.Scan(&k)
		left = append(left, k)
	}
	if len(left) != 1 || left[0] != "nar/another-key" {
		t.Errorf("tombstones after the copy: %v, want only the other store's", left)
	}
}
