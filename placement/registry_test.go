package placement_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/narthex-cache/narthex/placement"
)

func TestSet_KeepsFieldsNotGiven(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	st := localStore("disk")
	st.Latitude, st.Longitude, st.UploadPriority, st.MaxSize, st.Region = ptr(1.5), ptr(2.5), ptr(int32(90)), ptr(int64(1000)), "eu"
	mustAdd(t, db, st)
	mustAdd(t, db, localStore("new"))

	got, err := placement.Set(t.Context(), db, "disk", func(s *placement.Store) { s.Drain, s.DrainTo = true, "new" })
	if err != nil {
		t.Fatal(err)
	}
	read, err := placement.Get(t.Context(), db, "disk")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []placement.Store{got, read} {
		if !s.Drain || s.DrainTo != "new" || *s.Latitude != 1.5 || *s.Longitude != 2.5 || *s.UploadPriority != 90 ||
			*s.MaxSize != 1000 || s.Region != "eu" || s.DownloadPriority != nil || s.BaseURL != st.BaseURL ||
			!strings.Contains(string(s.Settings), "/var/lib/narthex/disk") {
			t.Errorf("after set: %+v", s)
		}
	}
	// Unset a priority and the drain.
	got, err = placement.Set(t.Context(), db, "disk", func(s *placement.Store) { s.UploadPriority, s.Drain, s.DrainTo = nil, false, "" })
	if err != nil || got.UploadPriority != nil || got.Drain || got.DrainTo != "" || *got.MaxSize != 1000 {
		t.Errorf("unset: %+v, %v", got, err)
	}
}

// TestSet_Concurrent checks that Sets of different fields at once all take
// effect: each reads the row it changes under its lock.
func TestSet_Concurrent(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	mustAdd(t, db, localStore("disk"))
	const n = 20
	var wg sync.WaitGroup
	for _, set := range []func(*placement.Store, int32){
		func(s *placement.Store, v int32) { s.UploadPriority = &v },
		func(s *placement.Store, v int32) { s.DownloadPriority = &v },
	} {
		wg.Go(func() {
			for i := int32(1); i <= n; i++ {
				if _, err := placement.Set(t.Context(), db, "disk", func(s *placement.Store) { set(s, i) }); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st, err := placement.Get(t.Context(), db, "disk")
	if err != nil || st.UploadPriority == nil || *st.UploadPriority != n || st.DownloadPriority == nil || *st.DownloadPriority != n {
		t.Errorf("after concurrent sets: upload priority %v, download priority %v (%v); want both %d",
			deref(st.UploadPriority), deref(st.DownloadPriority), err, n)
	}
}

// TestSet_RefusesBadChanges checks that a change whose result does not
// validate, that names an unknown store, or that renames records nothing.
func TestSet_RefusesBadChanges(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	st := localStore("disk")
	st.MaxSize = ptr(int64(100))
	mustAdd(t, db, st)
	other := localStore("other")
	other.Drain, other.DrainTo = true, "disk"
	mustAdd(t, db, other)
	before := snapshot(t, db)
	tests := []struct {
		name, store string
		change      func(*placement.Store)
		want        string
	}{
		{"unknown store", "nobody", func(s *placement.Store) { s.Populate = true }, `set store "nobody": unknown store`},
		{"read-only and write-only", "disk", func(s *placement.Store) { s.ReadOnly, s.WriteOnly = true, true }, "ReadOnly true contradicts WriteOnly"},
		{"soft above the max kept", "disk", func(s *placement.Store) { s.SoftMaxSize = ptr(int64(101)) }, "SoftMaxSize 101 is above MaxSize 100"},
		{"drain into itself", "disk", func(s *placement.Store) { s.Drain, s.DrainTo = true, "disk" }, "is the store itself"},
		{"drain into an unknown store", "disk", func(s *placement.Store) { s.Drain, s.DrainTo = true, "nowhere" }, `"nowhere" names no store`},
		{"drain into a store that drains into it", "disk", func(s *placement.Store) { s.Drain, s.DrainTo = true, "other" }, `"other" drains into this store`},
		{"rename", "disk", func(s *placement.Store) { s.Name = "disk2" }, "cannot change"},
		{"change kind", "disk", func(s *placement.Store) { s.Kind = "http" }, "cannot change"},
		{"bad coordinates", "disk", func(s *placement.Store) { s.Latitude = ptr(10.0) }, "Longitude"},
	}
	for _, tt := range tests {
		if _, err := placement.Set(t.Context(), db, tt.store, tt.change); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Set = %v, want %q", tt.name, err, tt.want)
		}
	}
	if after := snapshot(t, db); after != before {
		t.Errorf("refused sets changed the registry:\n%s\nwant\n%s", after, before)
	}
}

// TestSet_OriginStore checks that the store the origin registers, which has
// no directory in its settings, can have its policy set.
func TestSet_OriginStore(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	if _, err := db.Exec(t.Context(), "INSERT INTO store (name, kind, base_url) VALUES ('local', 'local', 'http://origin.example')"); err != nil {
		t.Fatal(err)
	}
	got, err := placement.Set(t.Context(), db, "local", func(s *placement.Store) { s.Drain = true })
	if err != nil || !got.Drain {
		t.Fatalf("Set = %+v, %v", got, err)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	for _, name := range []string{"old", "new", "empty", "target", "drainer"} {
		mustAdd(t, db, localStore(name))
	}
	if _, err := placement.Set(t.Context(), db, "drainer", func(s *placement.Store) { s.Drain, s.DrainTo = true, "target" }); err != nil {
		t.Fatal(err)
	}
	addFile(t, db, "nar/a.nar.xz", 10)
	addFile(t, db, "nar/b.nar.xz", 20)
	addFile(t, db, "nar/c.nar.xz", 30)
	// a is in both stores; b only in old, and missing in new; c only
	// missing in old.
	locate(t, db, "nar/a.nar.xz", "old", "good")
	locate(t, db, "nar/a.nar.xz", "new", "good")
	locate(t, db, "nar/b.nar.xz", "old", "good")
	locate(t, db, "nar/b.nar.xz", "new", "missing")
	locate(t, db, "nar/c.nar.xz", "old", "missing")
	before := snapshot(t, db)

	refusals := []struct {
		name  string
		force bool
		is    error
		want  string
	}{
		{"nobody", false, placement.ErrUnknownStore, `delete store "nobody": unknown store`},
		{"old", false, placement.ErrNotEmpty, `delete store "old": it holds 3 payload locations: drain it first`},
		{"old", true, placement.ErrLastCopy, "last good copy of some payloads: 1 would have no good copy left"},
		{"target", true, placement.ErrDrainedInto, "drain into it: drainer"},
	}
	for _, r := range refusals {
		err := placement.Delete(t.Context(), db, r.name, r.force)
		if !errors.Is(err, r.is) || !strings.Contains(err.Error(), r.want) {
			t.Errorf("Delete(%s, force %v) = %v, want %q", r.name, r.force, err, r.want)
		}
	}
	if after := snapshot(t, db); after != before {
		t.Fatalf("refused deletes changed the registry:\n%s\nwant\n%s", after, before)
	}

	if err := placement.Delete(t.Context(), db, "empty", false); err != nil {
		t.Errorf("delete an empty store: %v", err)
	}
	// Once b has a good copy in new, old can go with force, and its
	// locations with it; new keeps its own.
	if _, err := db.Exec(t.Context(), "UPDATE payload_location SET state = 'good' WHERE url = 'nar/b.nar.xz' AND store_id = (SELECT id FROM store WHERE name = 'new')"); err != nil {
		t.Fatal(err)
	}
	if err := placement.Delete(t.Context(), db, "old", false); !errors.Is(err, placement.ErrNotEmpty) {
		t.Errorf("delete without force = %v, want ErrNotEmpty", err)
	}
	if err := placement.Delete(t.Context(), db, "old", true); err != nil {
		t.Fatalf("delete with force: %v", err)
	}
	var left int
	if err := db.QueryRow(t.Context(), "SELECT count(*) FROM payload_location").Scan(&left); err != nil || left != 2 {
		t.Errorf("%d locations left (%v), want new's 2", left, err)
	}
	list, err := placement.List(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range list {
		names = append(names, st.Name)
	}
	if strings.Join(names, " ") != "drainer new target" {
		t.Errorf("stores left %q", names)
	}
}

func TestMissing(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	mustAdd(t, db, localStore("disk"))
	mustAdd(t, db, localStore("s3"))
	for _, u := range []string{"nar/a.nar.xz", "nar/b.nar.xz", "nar/c.nar.xz", "nar/d.nar.xz", "nar/e.nar.xz"} {
		addFile(t, db, u, 1)
		locate(t, db, u, "disk", "good")
	}
	locate(t, db, "nar/a.nar.xz", "s3", "good")
	locate(t, db, "nar/b.nar.xz", "s3", "missing")
	locate(t, db, "nar/c.nar.xz", "s3", "corrupt")
	locate(t, db, "nar/e.nar.xz", "s3", "good")
	missing := func(name string) (string, error) {
		var urls []string
		err := placement.Missing(t.Context(), db, name, func(f placement.File) error {
			if f.FileSize != 1 || f.Compression != "xz" {
				t.Errorf("file %+v", f)
			}
			urls = append(urls, f.URL)
			return nil
		})
		return strings.Join(urls, " "), err
	}
	if got, err := missing("s3"); err != nil || got != "nar/b.nar.xz nar/c.nar.xz nar/d.nar.xz" {
		t.Errorf("missing in s3: %q, %v", got, err)
	}
	if got, err := missing("disk"); err != nil || got != "" {
		t.Errorf("missing in disk: %q, %v", got, err)
	}
	if _, err := missing("nobody"); !errors.Is(err, placement.ErrUnknownStore) {
		t.Errorf("missing in an unknown store: %v", err)
	}
}

func TestShow(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	st := localStore("disk")
	st.Populate = true
	mustAdd(t, db, st)
	mustAdd(t, db, localStore("other"))
	for i, u := range []string{"nar/a.nar.xz", "nar/b.nar.xz", "nar/c.nar.xz", "nar/d.nar.xz", "nar/e.nar.xz", "nar/f.nar.xz", "nar/g.nar.xz"} {
		addFile(t, db, u, int64(100*(i+1)))
	}
	locate(t, db, "nar/a.nar.xz", "disk", "good") // 100, verified long ago
	locate(t, db, "nar/b.nar.xz", "disk", "good") // 200, verified lately
	locate(t, db, "nar/c.nar.xz", "disk", "good") // 300, never verified
	locate(t, db, "nar/d.nar.xz", "disk", "missing")
	locate(t, db, "nar/d.nar.xz", "other", "good")
	locate(t, db, "nar/e.nar.xz", "disk", "corrupt") // no good copy anywhere
	locate(t, db, "nar/g.nar.xz", "disk", "missing") // nor here
	// f is nowhere.
	_, err := db.Exec(t.Context(), `UPDATE payload_location SET verified_at = CASE url
		WHEN 'nar/a.nar.xz' THEN timestamptz '2026-01-02 03:04:05Z' ELSE now() END
		WHERE url IN ('nar/a.nar.xz', 'nar/b.nar.xz')`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(t.Context(), `INSERT INTO store_job (store_id, kind, total, done, bytes, finished_at)
		SELECT id, 'verify', 9, 9, 1, now() FROM store WHERE name = 'disk';
		INSERT INTO store_job (store_id, kind, total, done, bytes, failed)
		SELECT id, 'populate', 3, 1, 400, 1 FROM store WHERE name = 'disk'`)
	if err != nil {
		t.Fatal(err)
	}

	s, err := placement.Show(t.Context(), db, "disk")
	if err != nil {
		t.Fatal(err)
	}
	if s.Store.Name != "disk" || s.Files != 3 || s.Bytes != 600 || s.Missing != 2 || s.Corrupt != 1 ||
		s.Verified != 2 || s.Unverified() != 1 || s.NoGoodCopy != 2 || s.ToPopulate == nil || *s.ToPopulate != 4 {
		t.Errorf("Show = %+v", s)
	}
	if s.OldestVerification == nil || s.OldestVerification.UTC().Format("2006-01-02 15:04:05") != "2026-01-02 03:04:05" {
		t.Errorf("oldest verification %v", s.OldestVerification)
	}
	if j := s.Job; j == nil || j.Kind != "populate" || j.Total != 3 || j.Done != 1 || j.Bytes != 400 || j.Failed != 1 {
		t.Errorf("job %+v, want the running populate", j)
	}

	s, err = placement.Show(t.Context(), db, "other")
	if err != nil || s.Files != 1 || s.Bytes != 400 || s.ToPopulate != nil || s.Job != nil || s.OldestVerification != nil || s.Unverified() != 1 {
		t.Errorf("Show other = %+v, %v", s, err)
	}
	if _, err := placement.Show(t.Context(), db, "nobody"); !errors.Is(err, placement.ErrUnknownStore) {
		t.Errorf("Show unknown = %v", err)
	}
}
