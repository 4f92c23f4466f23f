package stores

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLocal_RemoveTemp(t *testing.T) {
	ctx := t.Context()
	l, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := "nar/0mbp0hbwv1pz0wz4f3lbbgq6igbwjvghi8xkd0ql3ydyhnm5bdbb.nar.xz"
	if _, _, err := l.Put(ctx, key, bytes.NewReader([]byte("kept")), nil); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	plant := func(rel string, content string, age time.Duration) {
		t.Helper()
		p := filepath.Join(l.Dir(), filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	plant("nar/.tmp-stale", "12345", 2*time.Hour)
	plant("nar/.tmp-fresh", "123", time.Minute)
	plant("other/.tmp-stale", "1", 3*time.Hour)
	plant("nar/old-but-not-temporary", "1", 5*time.Hour)

	removed, err := l.RemoveTemp(ctx, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range removed {
		got = append(got, f.Path)
		if f.Path == "nar/.tmp-stale" && f.Size != 5 {
			t.Errorf("removed %s of %d bytes, want 5", f.Path, f.Size)
		}
	}
	slices.Sort(got)
	if diff := cmp.Diff([]string{"nar/.tmp-stale", "other/.tmp-stale"}, got); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	want := []string{key, "nar/.tmp-fresh", "nar/old-but-not-temporary"}
	left := files(t, l.Dir())
	slices.Sort(want)
	slices.Sort(left)
	if diff := cmp.Diff(want, left); diff != "" {
		t.Errorf("files left (-want +got):\n%s", diff)
	}
}

func TestLocal_Walk(t *testing.T) {
	ctx := t.Context()
	l, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	collect := func(key string, size int64) error {
		got = append(got, key)
		return nil
	}
	if err := l.Walk(ctx, "nar", collect); err != nil || len(got) != 0 {
		t.Fatalf("Walk of an empty store = %q, %v", got, err)
	}
	for _, key := range []string{"nar/b.nar", "nar/a.nar.xz", "log/x"} {
		if _, _, err := l.Put(ctx, key, bytes.NewReader([]byte(key)), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(l.Dir(), "nar", ".tmp-123"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.Walk(ctx, "nar", collect); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"nar/a.nar.xz", "nar/b.nar"}, got); diff != "" {
		t.Errorf("Walk(nar) (-want +got):\n%s", diff)
	}
	got = nil
	if err := l.Walk(ctx, "", collect); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"log/x", "nar/a.nar.xz", "nar/b.nar"}, got); diff != "" {
		t.Errorf("Walk of all (-want +got):\n%s", diff)
	}
	if err := l.Walk(ctx, "../x", collect); err == nil {
		t.Error("Walk with an invalid prefix succeeded")
	}
}
