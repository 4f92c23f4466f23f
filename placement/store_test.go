package placement_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/narthex-cache/narthex/config"
	"github.com/narthex-cache/narthex/placement"
)

// badStores are stores that Validate refuses, each with the field it must
// name and a phrase of its message.
var badStores = []struct {
	name   string
	change func(*placement.Store)
	field  string
	want   string
}{
	{"empty name", func(s *placement.Store) { s.Name = "" }, "Name", "is not a store name"},
	{"upper-case name", func(s *placement.Store) { s.Name = "EU" }, "Name", "is not a store name"},
	{"name like a flag", func(s *placement.Store) { s.Name = "-eu" }, "Name", "is not a store name"},
	{"name too long", func(s *placement.Store) { s.Name = strings.Repeat("a", 41) }, "Name", "1 to 40 characters"},
	{"unknown kind", func(s *placement.Store) { s.Kind = "ftp" }, "Kind", `"ftp" is not a kind of store`},
	{"read-only and write-only", func(s *placement.Store) { s.ReadOnly, s.WriteOnly = true, true }, "ReadOnly", "contradicts WriteOnly"},
	{"drain into itself", func(s *placement.Store) { s.Drain, s.DrainTo = true, s.Name }, "DrainTo", "is the store itself"},
	{"drain target without drain", func(s *placement.Store) { s.DrainTo = "other" }, "DrainTo", "does not drain"},
	{"negative soft size", func(s *placement.Store) { s.SoftMaxSize = ptr(int64(-1)) }, "SoftMaxSize", "must not be negative"},
	{"negative max size", func(s *placement.Store) { s.MaxSize = ptr(int64(-5)) }, "MaxSize", "must not be negative"},
	{"soft above max", func(s *placement.Store) { s.SoftMaxSize, s.MaxSize = ptr(int64(11)), ptr(int64(10)) }, "SoftMaxSize", "is above MaxSize 10"},
	{"latitude too far north", func(s *placement.Store) { s.Latitude, s.Longitude = ptr(90.5), ptr(0.0) }, "Latitude", "outside [-90, 90]"},
	{"latitude NaN", func(s *placement.Store) { s.Latitude, s.Longitude = ptr(math.NaN()), ptr(0.0) }, "Latitude", "outside"},
	{"longitude too far west", func(s *placement.Store) { s.Latitude, s.Longitude = ptr(0.0), ptr(-180.1) }, "Longitude", "outside [-180, 180]"},
	{"latitude alone", func(s *placement.Store) { s.Latitude = ptr(50.1) }, "Longitude", "must be set with Latitude"},
	{"longitude alone", func(s *placement.Store) { s.Longitude = ptr(8.7) }, "Latitude", "must be set with Longitude"},
	{"ftp base URL", func(s *placement.Store) { s.BaseURL = "ftp://mirror.example" }, "BaseURL", "is not an http(s) base URL"},
	{"base URL without host", func(s *placement.Store) { s.BaseURL = "http://" }, "BaseURL", "is not an http(s) base URL"},
	{"local without base URL", func(s *placement.Store) { s.BaseURL = "" }, "BaseURL", "is required"},
	{"relative local dir", func(s *placement.Store) { s.Settings = []byte(`{"dir": "nars"}`) }, "Settings", `dir "nars" is not an absolute path`},
	{"misspelt local setting", func(s *placement.Store) { s.Settings = []byte(`{"directory": "/x"}`) }, "Settings", "directory"},
	{"settings not an object", func(s *placement.Store) { s.Settings = []byte(`[]`) }, "Settings", "do not work"},
	{"s3 without endpoint", func(s *placement.Store) {
		s.Kind, s.Settings = "s3", []byte(`{"region": "eu-central-1", "bucket": "nars"}`)
	}, "Settings", "endpoint is required"},
	{"s3 bad bucket", func(s *placement.Store) {
		s.Kind, s.Settings = "s3", []byte(`{"endpoint": "https://s3.example", "region": "eu", "bucket": "Nars!"}`)
	}, "Settings", `bucket "Nars!"`},
	{"s3 bad expiry", func(s *placement.Store) {
		s.Kind, s.Settings = "s3", []byte(`{"endpoint": "https://s3.example", "region": "eu", "bucket": "nars", "presign_expiry": "30d"}`)
	}, "Settings", "presign expiry"},
	{"http without base URL", func(s *placement.Store) { s.Kind, s.BaseURL, s.Settings = "http", "", nil }, "BaseURL", "is required"},
	{"http with settings", func(s *placement.Store) { s.Kind = "http" }, "Settings", "dir"},
	{"write-only http", func(s *placement.Store) { s.Kind, s.Settings, s.WriteOnly = "http", nil, true }, "WriteOnly", "never written"},
}

func TestStore_Validate(t *testing.T) {
	t.Parallel()
	if err := localStore("eu_1-disk").Validate(); err != nil {
		t.Fatalf("valid store: %v", err)
	}
	s3 := placement.Store{Name: "eu-s3", Kind: "s3", Settings: []byte(`{"endpoint": "https://s3.example", "region": "eu", "bucket": "nars"}`),
		Latitude: ptr(-90.0), Longitude: ptr(180.0), SoftMaxSize: ptr(int64(10)), MaxSize: ptr(int64(10))}
	if err := s3.Validate(); err != nil {
		t.Fatalf("valid s3 store without base URL: %v", err)
	}
	for _, tt := range badStores {
		t.Run(tt.name, func(t *testing.T) {
			st := localStore("eu")
			tt.change(&st)
			err := st.Validate()
			ce, ok := errors.AsType[*config.Error](err)
			if !ok || ce.Field != tt.field || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want a *config.Error for %s saying %q", err, tt.field, tt.want)
			}
		})
	}
}

// TestAdd_RefusesBadStores checks that each store Validate refuses is
// refused by Add with nothing recorded, as are a duplicate name and a drain
// target that names no store.
func TestAdd_RefusesBadStores(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	mustAdd(t, db, localStore("eu"))
	before := snapshot(t, db)
	for _, tt := range badStores {
		st := localStore("other")
		tt.change(&st)
		if _, err := placement.Add(t.Context(), db, st); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Add = %v, want %q", tt.name, err, tt.want)
		}
	}
	st := localStore("other")
	st.Drain, st.DrainTo = true, "nowhere"
	_, err := placement.Add(t.Context(), db, st)
	if ce, ok := errors.AsType[*config.Error](err); !ok || ce.Field != "DrainTo" || !strings.Contains(err.Error(), `"nowhere" names no store`) {
		t.Errorf("drain into an unknown store: Add = %v", err)
	}
	if _, err := placement.Add(t.Context(), db, localStore("eu")); !errors.Is(err, placement.ErrStoreExists) {
		t.Errorf("duplicate name: Add = %v, want ErrStoreExists", err)
	}
	if after := snapshot(t, db); after != before {
		t.Errorf("refused adds changed the registry:\n%s\nwant\n%s", after, before)
	}
}

func TestAdd_ListGet(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	mustAdd(t, db, localStore("disk"))
	s3 := placement.Store{Name: "eu-s3", Kind: "s3", Region: "eu-central-1",
		Settings: []byte(`{"endpoint": "https://s3.example", "region": "eu-central-1", "bucket": "nars", "path_style": true}`),
		Latitude: ptr(50.1), Longitude: ptr(8.7), DownloadPriority: ptr(int32(80)), UploadPriority: ptr(int32(-3)),
		Populate: true, SoftMaxSize: ptr(int64(1 << 30)), MaxSize: ptr(int64(2 << 30))}
	got := mustAdd(t, db, s3)
	if got.ID == 0 || got.CreatedAt.IsZero() {
		t.Errorf("Add returned id %d, created %v", got.ID, got.CreatedAt)
	}
	old := localStore("old")
	old.Drain, old.DrainTo, old.ReadOnly = true, "eu-s3", true
	mustAdd(t, db, old)
	mirror := placement.Store{Name: "mirror", Kind: "http", BaseURL: "https://cache.example/", ReadOnly: true}
	mustAdd(t, db, mirror)

	list, err := placement.List(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range list {
		names = append(names, st.Name)
	}
	if strings.Join(names, " ") != "disk eu-s3 mirror old" {
		t.Errorf("List names %q, want disk eu-s3 mirror old", names)
	}
	st, err := placement.Get(t.Context(), db, "eu-s3")
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != got.ID || *st.Latitude != 50.1 || *st.Longitude != 8.7 || *st.DownloadPriority != 80 || *st.UploadPriority != -3 ||
		!st.Populate || st.Drain || *st.SoftMaxSize != 1<<30 || *st.MaxSize != 2<<30 || st.Region != "eu-central-1" || st.BaseURL != "" {
		t.Errorf("Get = %+v", st)
	}
	if !strings.Contains(string(st.Settings), `"path_style": true`) {
		t.Errorf("settings %s", st.Settings)
	}
	st, err = placement.Get(t.Context(), db, "old")
	if err != nil || !st.Drain || st.DrainTo != "eu-s3" || !st.ReadOnly {
		t.Errorf("Get old = %+v, %v", st, err)
	}
	st, err = placement.Get(t.Context(), db, "mirror")
	if err != nil || st.UploadPriority != nil || st.Latitude != nil || string(st.Settings) != "{}" {
		t.Errorf("Get mirror = %+v, %v", st, err)
	}
	if _, err := placement.Get(t.Context(), db, "nobody"); !errors.Is(err, placement.ErrUnknownStore) || !strings.Contains(err.Error(), `"nobody"`) {
		t.Errorf("Get unknown = %v", err)
	}
}
