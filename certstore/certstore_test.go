package certstore

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	db, err := pgxpool.New(t.Context(), pgtest.NewOriginDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func newStorage(t *testing.T, db *pgxpool.Pool, lease time.Duration) *Storage {
	t.Helper()
	s, err := New(Config{DB: db, Lease: lease, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Keys behave as certmagic's file storage's paths: values round-trip,
// a missing key is fs.ErrNotExist, a directory is the prefix of keys,
// deleting one deletes what is below it, and List and Stat see
// directories as file storage does.
func TestStorage_Keys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStorage(t, newPool(t), DefaultLease)
	if _, err := s.Load(ctx, "certificates/a/a.crt"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing key = %v, want fs.ErrNotExist", err)
	}
	files := map[string]string{
		"certificates/acme/example.com/example.com.crt":  "cert",
		"certificates/acme/example.com/example.com.key":  "key",
		"certificates/acme/example.com/example.com.json": "{}",
		"certificates/acme/other.org/other.org.crt":      "cert 2",
		"acme/acme/users/default/default.key":            "account key",
		"certificates/100%_sure/x.crt":                   "wildcards in a name",
	}
	for k, v := range files {
		if err := s.Store(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Store(ctx, "certificates/acme/other.org/other.org.crt", []byte("renewed")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Load(ctx, "/certificates/acme/other.org/other.org.crt"); err != nil || string(v) != "renewed" {
		t.Errorf("Load after a second Store = %q, %v; want the new value", v, err)
	}
	for _, k := range []string{"certificates", "certificates/acme/example.com", "certificates/acme/example.com/example.com.key"} {
		if !s.Exists(ctx, k) {
			t.Errorf("Exists(%q) = false", k)
		}
	}
	for _, k := range []string{"certificates/acme/example", "certificates/100%", "nothing"} {
		if s.Exists(ctx, k) {
			t.Errorf("Exists(%q) = true", k)
		}
	}

	list := func(prefix string, recursive bool) []string {
		t.Helper()
		keys, err := s.List(ctx, prefix, recursive)
		if err != nil {
			t.Fatalf("List(%q, %v): %v", prefix, recursive, err)
		}
		return keys
	}
	if got, want := list("certificates/acme", false), []string{"certificates/acme/example.com", "certificates/acme/other.org"}; !slices.Equal(got, want) {
		t.Errorf("List non-recursive = %v, want %v", got, want)
	}
	want := []string{"certificates/acme/example.com", "certificates/acme/example.com/example.com.crt",
		"certificates/acme/example.com/example.com.json", "certificates/acme/example.com/example.com.key",
		"certificates/acme/other.org", "certificates/acme/other.org/other.org.crt"}
	if got := list("certificates/acme", true); !slices.Equal(got, want) {
		t.Errorf("List recursive = %v, want %v", got, want)
	}
	if got := list("", false); !slices.Equal(got, []string{"acme", "certificates"}) {
		t.Errorf("List of the top = %v", got)
	}
	if got := list("certificates/acme/other.org/other.org.crt", false); len(got) != 0 {
		t.Errorf("List of a key = %v, want nothing", got)
	}
	if _, err := s.List(ctx, "certificates/none", false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List of nothing = %v, want fs.ErrNotExist", err)
	}

	info, err := s.Stat(ctx, "certificates/acme/example.com/example.com.key")
	if err != nil || !info.IsTerminal || info.Size != 3 || info.Modified.IsZero() {
		t.Errorf("Stat of a key = %+v, %v", info, err)
	}
	if info, err = s.Stat(ctx, "certificates/acme"); err != nil || info.IsTerminal || info.Modified.IsZero() {
		t.Errorf("Stat of a directory = %+v, %v", info, err)
	}
	if _, err := s.Stat(ctx, "certificates/none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of nothing = %v, want fs.ErrNotExist", err)
	}

	if err := s.Delete(ctx, "certificates/acme/example.com"); err != nil {
		t.Fatal(err)
	}
	if got := list("certificates", true); !slices.Equal(got, []string{"certificates/100%_sure", "certificates/100%_sure/x.crt",
		"certificates/acme", "certificates/acme/other.org", "certificates/acme/other.org/other.org.crt"}) {
		t.Errorf("after deleting a directory: %v", got)
	}
	if err := s.Delete(ctx, "certificates/acme/example.com"); err != nil {
		t.Errorf("Delete of what is gone = %v, want nil", err)
	}
	if err := s.Store(ctx, "/", []byte("x")); err == nil {
		t.Error("Store of an empty key succeeded")
	}
}

// Two nodes (two Storages) take a lock in turn: Lock waits while the other
// holds it, TryLock says no, and the lock is free again once let go.
func TestStorage_LockIsExclusive(t *testing.T) {
	t.Parallel()
	db := newPool(t)
	a, b := newStorage(t, db, DefaultLease), newStorage(t, db, DefaultLease)
	ctx := t.Context()
	if err := a.Lock(ctx, "issue_cert_example.com"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.TryLock(ctx, "issue_cert_example.com"); ok || err != nil {
		t.Fatalf("TryLock of a held lock = %v, %v", ok, err)
	}
	if ok, err := b.TryLock(ctx, "issue_cert_other.org"); !ok || err != nil {
		t.Fatalf("TryLock of another lock = %v, %v", ok, err)
	}
	var inB atomic.Bool
	locked := make(chan error, 1)
	go func() {
		err := b.Lock(ctx, "issue_cert_example.com")
		inB.Store(true)
		locked <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if inB.Load() {
		t.Fatal("a second node took a lock the first holds")
	}
	if err := a.Unlock(ctx, "issue_cert_example.com"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-locked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the second node did not get the lock once it was let go")
	}
	if err := a.Unlock(ctx, "issue_cert_example.com"); err == nil {
		t.Error("Unlock of a lock another node holds succeeded")
	}
	// A waiter gives up when its context ends.
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := a.Lock(wctx, "issue_cert_example.com"); err == nil {
		t.Error("Lock returned without the lock while another node held it")
	}
}

// A holder renews its lease: it keeps the lock past the end of its first
// lease. A holder that dies (stops renewing, never lets go) loses it once
// the lease has lapsed, and another node takes it.
func TestStorage_LeaseRenewedAndLapses(t *testing.T) {
	t.Parallel()
	db := newPool(t)
	lease := 6 * time.Second
	a, b := newStorage(t, db, lease), newStorage(t, db, lease)
	ctx := t.Context()
	if err := a.Lock(ctx, "renew"); err != nil {
		t.Fatal(err)
	}
	var first time.Time
	if err := db.QueryRow(ctx, `SELECT expires_at FROM cert_lock WHERE name = 'renew'`).Scan(&first); err != nil {
		t.Fatal(err)
	}
	// Past the first lease's end (by the database's clock), the lock is
	// still held, its lease moved on.
	testutil.Eventually(t, "the first lease's end", time.Minute, func() bool {
		var past bool
		db.QueryRow(ctx, `SELECT now() > $1`, first).Scan(&past)
		return past
	})
	if ok, err := b.TryLock(ctx, "renew"); ok || err != nil {
		t.Fatalf("a renewed lock was taken past its first lease: %v, %v", ok, err)
	}
	// The holder dies: its renewal stops, and it never lets go.
	a.mu.Lock()
	h := a.held["renew"]
	delete(a.held, "renew")
	a.mu.Unlock()
	h.stop()
	<-h.done
	testutil.Eventually(t, "the dead holder's lock taken by another node", time.Minute, func() bool {
		ok, err := b.TryLock(ctx, "renew")
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
}

func TestConfig_Validate(t *testing.T) {
	db := &pgxpool.Pool{}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "DB nil is required"},
		{Config{DB: db, Lease: time.Second}, "Lease 1s must be at least 3s: its holder renews it every third of it"},
		{Config{DB: db, Poll: -time.Second}, "Poll -1s must not be negative"},
	} {
		if err := c.cfg.Validate(); err == nil || err.Error() != c.want {
			t.Errorf("Validate(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
}
