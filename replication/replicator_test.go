package replication

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/replica"
	"github.com/narthex-cache/narthex/sql"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// origin is a migrated origin database for one test.
type origin struct {
	t    *testing.T
	url  string
	conn *pgx.Conn
}

func newOrigin(t *testing.T) *origin {
	t.Helper()
	url := pgtest.NewOriginDatabase(t)
	return &origin{t: t, url: url, conn: pgtest.Connect(t, url)}
}

func (o *origin) exec(sql string, args ...any) {
	o.t.Helper()
	if _, err := o.conn.Exec(context.Background(), sql, args...); err != nil {
		o.t.Fatalf("%s: %v", sql, err)
	}
}

// addNarinfos inserts n narinfos in one transaction and returns their hashes.
func (o *origin) addNarinfos(n int) []string {
	o.t.Helper()
	hashes := make([]string, n)
	batch := &pgx.Batch{}
	for i := range hashes {
		hashes[i] = testutil.RandomHash()
		batch.Queue(`INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ($1, 'x', 'sha256:x', 1, $2)`,
			hashes[i], body(hashes[i]))
	}
	tx, err := o.conn.Begin(context.Background())
	if err != nil {
		o.t.Fatal(err)
	}
	if err := tx.SendBatch(context.Background(), batch).Close(); err != nil {
		o.t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		o.t.Fatal(err)
	}
	return hashes
}

// waitAcknowledged waits until slot has confirmed all WAL written so far.
func (o *origin) waitAcknowledged(slot string) {
	o.t.Helper()
	var target string
	if err := o.conn.QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&target); err != nil {
		o.t.Fatal(err)
	}
	testutil.Eventually(o.t, "slot to confirm "+target, waitTimeout, func() bool {
		var done bool
		err := o.conn.QueryRow(context.Background(),
			"SELECT confirmed_flush_lsn >= $1::pg_lsn FROM pg_replication_slots WHERE slot_name = $2", target, slot).Scan(&done)
		return err == nil && done
	})
}

// dropSlot drops slot once no connection holds it. A replication
// connection closed by the client still holds its slot until the server has
// read the goodbye: the walsender may even acquire the slot for a
// START_REPLICATION sent just before, after a check found it free. So the
// drop itself is retried while the slot is in use (SQLSTATE 55006).
func (o *origin) dropSlot(slot string) {
	o.t.Helper()
	var err error
	testutil.Eventually(o.t, "slot "+slot+" dropped", waitTimeout, func() bool {
		_, err = o.conn.Exec(context.Background(), "SELECT pg_drop_replication_slot($1)", slot)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55006" { // object_in_use
			return false
		}
		return true
	})
	if err != nil {
		o.t.Fatalf("drop slot %s: %v", slot, err)
	}
}

func body(hash string) string { return "StorePath: /nix/store/" + hash + "-x\n" }

// waitTimeout bounds every wait for the replicator: generous, since a test
// asserts that something happens, not how fast, on a machine that may be busy.
const waitTimeout = time.Minute

func startReplicator(t *testing.T, cfg Config) *Replicator {
	t.Helper()
	cfg.StatusInterval = 200 * time.Millisecond
	cfg.MaxBackoff = 200 * time.Millisecond
	r, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	t.Cleanup(func() { r.Close() })
	return r
}

// has reports whether the replica serves hash, through the path the edge
// uses: presence filter, memory cache, then the store.
func has(r *Replicator, hash string) bool {
	_, ok := served(r, hash)
	return ok
}

func served(r *Replicator, hash string) (string, bool) {
	rep := r.Replica()
	if rep == nil {
		return "", false
	}
	var b strings.Builder
	ok, err := rep.WriteNarinfo(&b, []byte(hash))
	return b.String(), err == nil && ok
}

// locations lists the stores holding the NAR file at url, as "name URL
// priority".
func locations(r *Replicator, url string) ([]string, error) {
	var got []string
	err := r.Replica().Locations([]byte(url), func(s *replica.Store, key []byte) bool {
		prio := "unset"
		if s.DownloadPriority != nil {
			prio = fmt.Sprint(*s.DownloadPriority)
		}
		got = append(got, fmt.Sprintf("%s %s %s", s.Name, s.AppendURL(nil, key), prio))
		return true
	})
	return got, err
}

// count returns the number of narinfos in the replica.
func count(r *Replicator) (int, error) {
	n := 0
	err := r.Replica().Narinfos(func(string, []byte) error { n++; return nil })
	return n, err
}

// contents returns the replica's narinfos.
func contents(t *testing.T, r *Replicator) map[string]string {
	t.Helper()
	got := map[string]string{}
	if err := r.Replica().Narinfos(func(h string, b []byte) error { got[h] = string(b); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

// originContents returns the origin's narinfos.
func (o *origin) contents() map[string]string {
	o.t.Helper()
	rows, _ := o.conn.Query(context.Background(), "SELECT hash, body FROM narinfo")
	want := map[string]string{}
	for rows.Next() {
		var h, b string
		if err := rows.Scan(&h, &b); err != nil {
			o.t.Fatal(err)
		}
		want[h] = b
	}
	if err := rows.Err(); err != nil {
		o.t.Fatal(err)
	}
	return want
}

func TestReplicator_BootstrapThenStream(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	before := o.addNarinfos(20)
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: t.TempDir()})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	for _, h := range before {
		if !has(r, h) {
			t.Fatalf("bootstrapped replica lacks %s", h)
		}
	}
	after := o.addNarinfos(5)
	testutil.Eventually(t, "streamed narinfos", waitTimeout, func() bool { return has(r, after[4]) })

	o.exec("UPDATE narinfo SET body = body || 'Sig: k:x\n' WHERE hash = $1", before[0])
	o.exec("DELETE FROM narinfo WHERE hash = $1", before[1])
	testutil.Eventually(t, "delete", waitTimeout, func() bool { return !has(r, before[1]) })
	if diff := cmp.Diff(o.contents(), contents(t, r)); diff != "" {
		t.Fatalf("replica differs from origin (-origin +replica):\n%s", diff)
	}
	var slot string
	if err := o.conn.QueryRow(t.Context(), "SELECT slot_name FROM edge WHERE name = 'e1'").Scan(&slot); err != nil {
		t.Fatal(err)
	}
	if slot != r.Status().Slot {
		t.Errorf("edge row names slot %q, replicator follows %q", slot, r.Status().Slot)
	}
}

// Status reports a bootstrap's rows against the server's estimate, the
// row changes and transactions streamed, and the server's WAL end.
func TestReplicator_StatusCountsProgress(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	before := o.addNarinfos(20)
	o.exec(`INSERT INTO store (name, kind, base_url) VALUES ('local', 'local', 'http://origin.test')`)
	o.exec("ANALYZE narinfo, store, payload_location")
	var published uint64
	if err := o.conn.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM narinfo) + (SELECT count(*) FROM store)
		+ (SELECT count(*) FROM payload_location)`).Scan(&published); err != nil {
		t.Fatal(err)
	}
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: t.TempDir()})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	st := r.Status()
	if st.Bootstrapping || st.BootstrapRows != published || st.BootstrapRowsExpected != published {
		t.Errorf("after the bootstrap: bootstrapping %v, %d rows copied of %d expected; want false, %d of %d",
			st.Bootstrapping, st.BootstrapRows, st.BootstrapRowsExpected, published, published)
	}

	after := o.addNarinfos(5)
	o.exec("UPDATE narinfo SET body = body || 'Sig: k:x\n' WHERE hash = $1", before[0])
	o.exec("DELETE FROM narinfo WHERE hash = $1", before[1])
	testutil.Eventually(t, "three transactions applied", waitTimeout, func() bool {
		return r.Status().Transactions == 3 && !has(r, before[1]) && has(r, after[4])
	})
	if st := r.Status(); st.Changes != 7 {
		t.Errorf("%d row changes applied, want 7", st.Changes)
	}
	testutil.Eventually(t, "the server's WAL end reported and applied", waitTimeout, func() bool {
		st := r.Status()
		return st.ServerWALEnd > 0 && st.AppliedLSN >= st.ServerWALEnd
	})
}

func TestReplicator_Locations(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.exec(`INSERT INTO store (name, kind, base_url, download_priority) VALUES ('far', 'http', 'http://far.example', 90), ('near', 'local', 'http://near.example', 10)`)
	url := "nar/1py0ql2r3fvf5h8h9xh2fdsxkizwb8p4wgfa848nlfiv612sv3vr.nar.xz"
	o.exec(`INSERT INTO nar_file (url, file_hash, file_size, compression) VALUES ($1, 'sha256:x', 3, 'xz')`, url)
	o.exec(`INSERT INTO payload_location (url, store_id, key) SELECT $1, id, $1 FROM store WHERE name = 'far'`, url)
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: t.TempDir()})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	o.exec(`INSERT INTO payload_location (url, store_id, key) SELECT $1, id, $1 FROM store WHERE name = 'near'`, url)
	var got []string
	testutil.Eventually(t, "second location", waitTimeout, func() bool {
		var err error
		got, err = locations(r, url)
		return err == nil && len(got) == 2
	})
	want := []string{"far http://far.example/" + url + " 90", "near http://near.example/" + url + " 10"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("locations (-want +got):\n%s", diff)
	}
	if got, _ := locations(r, "nar/absent.nar"); len(got) != 0 {
		t.Fatalf("absent file has locations %v", got)
	}
}

func TestReplicator_ResumesWithoutBootstrap(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	dir := t.TempDir()
	o.addNarinfos(3)
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	slot := r.Status().Slot
	r.Close()

	missed := o.addNarinfos(4)
	r = startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	if r.Replica() == nil {
		t.Fatal("reopened replica is not served before connecting")
	}
	testutil.Eventually(t, "catch up", waitTimeout, func() bool { return has(r, missed[3]) })
	if st := r.Status(); st.Bootstraps != 0 || st.Slot != slot {
		t.Fatalf("resumed with %d bootstraps on slot %s, want 0 on %s", st.Bootstraps, st.Slot, slot)
	}
	if diff := cmp.Diff(o.contents(), contents(t, r)); diff != "" {
		t.Fatalf("replica differs from origin (-origin +replica):\n%s", diff)
	}
}

func TestReplicator_LostSlotBootstrapsWhileServing(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	dir := t.TempDir()
	old := o.addNarinfos(3)
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	slot := r.Status().Slot
	r.Close()

	o.dropSlot(slot)
	newer := o.addNarinfos(3)
	// The replaced replica stays open for readers as long as in
	// production: a reader that took it just before the switch may be
	// descheduled for a while on a busy machine.
	r, err := Open(Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if !has(r, old[0]) {
		t.Fatal("old replica not served while the slot is lost")
	}
	r.Start(t.Context())
	// Until the switch, and through it, readers are served.
	testutil.Eventually(t, "new bootstrap", waitTimeout, func() bool {
		if !has(r, old[0]) {
			t.Fatal("a reader found no replica during the rebuild")
		}
		return r.Status().Bootstraps == 1
	})
	if r.Status().Slot == slot {
		t.Fatal("bootstrapped onto the lost slot's name")
	}
	for _, h := range append(old, newer...) {
		if !has(r, h) {
			t.Fatalf("new replica lacks %s", h)
		}
	}
	streamed := o.addNarinfos(1)
	testutil.Eventually(t, "stream on new slot", waitTimeout, func() bool { return has(r, streamed[0]) })
}

func TestReplicator_UnchangedToastKeepsBody(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: t.TempDir()})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	h := testutil.RandomHash()
	big := make([]byte, 32<<10)
	rand.Read(big)
	long := body(h) + "X: " + fmt.Sprintf("%x", big) + "\n"
	o.exec(`INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ($1, 'x', 'sha256:x', 1, $2)`, h, long)
	testutil.Eventually(t, "insert", waitTimeout, func() bool { return has(r, h) })
	// An update that leaves the TOASTed body alone sends it as unchanged.
	o.exec(`UPDATE narinfo SET system = 'x86_64-linux' WHERE hash = $1`, h)
	marker := o.addNarinfos(1)
	testutil.Eventually(t, "update", waitTimeout, func() bool { return has(r, marker[0]) })
	got, _ := served(r, h)
	if got != long {
		t.Fatalf("body after update has %d bytes, want %d", len(got), len(long))
	}
}

func TestReplicator_TransactionsAreAtomic(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: t.TempDir()})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	const txs, per = 20, 50
	done := make(chan struct{})
	var seen []int
	go func() {
		defer close(done)
		for {
			n, err := count(r)
			if err != nil {
				t.Error(err)
				return
			}
			seen = append(seen, n)
			if n == txs*per {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for range txs {
		o.addNarinfos(per)
	}
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("replica never reached the origin's count")
	}
	for _, n := range seen {
		if n%per != 0 {
			t.Fatalf("a reader saw %d narinfos: half a transaction (observed %v)", n, seen)
		}
	}
}

// Not parallel: it stops the cluster every test shares.
func TestReplicator_ServesWhilePostgresIsDown(t *testing.T) {
	o := newOrigin(t)
	hs := o.addNarinfos(2)
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: t.TempDir()})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	o.conn.Close(context.Background())

	cluster := pgtest.Cluster(t)
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "disconnect", waitTimeout, func() bool { return !r.Status().Connected })
	for _, h := range hs {
		if !has(r, h) {
			t.Fatalf("replica lost %s while PostgreSQL is down", h)
		}
	}
	if err := cluster.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), o.url)
	if err != nil {
		t.Fatal(err)
	}
	o.conn = conn
	later := o.addNarinfos(1)
	testutil.Eventually(t, "catch up after restart", waitTimeout, func() bool { return has(r, later[0]) })
	if r.Status().Bootstraps != 1 {
		t.Fatalf("%d bootstraps, want only the first", r.Status().Bootstraps)
	}
}

func TestReplicationConnString(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://u@h:5/db?sslmode=disable": "postgres://u@h:5/db?replication=database&sslmode=disable",
		"host=h dbname=db":                    "host=h dbname=db replication=database",
	} {
		if got := replicationConnString(in); got != want {
			t.Errorf("replicationConnString(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSlotPattern(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		edge, slot string
		match      bool
	}{
		{"a", newSlotName("a"), true},
		{"a", newSlotName("a_b"), false},
		{"a_b", newSlotName("a_b"), true},
	} {
		if got := regexp.MustCompile(sql.SlotPattern(tc.edge)).MatchString(tc.slot); got != tc.match {
			t.Errorf("slot %s matches edge %s: %v, want %v", tc.slot, tc.edge, got, tc.match)
		}
	}
}

func TestReplicator_IdleAcknowledgesServerWALEnd(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: t.TempDir()})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	// WAL that carries nothing published must not stay pinned by the slot.
	o.exec(`INSERT INTO upload_token (name, token_sha256) VALUES ('t', sha256('x'))`)
	o.waitAcknowledged(r.Status().Slot)
}

// Not parallel: it sets a WAL retention limit on the cluster every test
// shares.
func TestReplicator_InvalidatedSlotBootstrapsAnew(t *testing.T) {
	o := newOrigin(t)
	dir := t.TempDir()
	old := o.addNarinfos(2)
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstraps == 1 })
	slot := r.Status().Slot
	r.Close()

	// Let the slot fall behind a WAL retention limit, as an edge that was
	// away too long does.
	o.exec("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'")
	o.exec("SELECT pg_reload_conf()")
	t.Cleanup(func() {
		o.conn.Exec(context.Background(), "ALTER SYSTEM RESET max_slot_wal_keep_size")
		o.conn.Exec(context.Background(), "SELECT pg_reload_conf()")
	})
	var status string
	for range 5 {
		o.addNarinfos(10)
		o.exec("SELECT pg_switch_wal()")
		o.exec("CHECKPOINT")
		if err := o.conn.QueryRow(t.Context(), "SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status == "lost" {
			break
		}
	}
	if status != "lost" {
		t.Fatalf("slot wal_status = %q after WAL switches, want lost", status)
	}

	r = startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	if !has(r, old[0]) {
		t.Fatal("old replica not served while its slot is invalid")
	}
	testutil.Eventually(t, "new bootstrap", waitTimeout, func() bool { return r.Status().Bootstraps == 1 && r.Status().Slot != slot })
	if diff := cmp.Diff(o.contents(), contents(t, r)); diff != "" {
		t.Fatalf("new replica differs from origin (-origin +replica):\n%s", diff)
	}
	var n int
	o.conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&n)
	if n != 0 {
		t.Error("the invalidated slot was not dropped")
	}
}

func TestReplicator_NotCurrentWhileCatchingUp(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	dir := t.TempDir()
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	r.Close()
	// Commits are acknowledged once durable, as in production; the test
	// cluster otherwise commits asynchronously.
	o.exec("SET synchronous_commit = on")
	var last []string
	for range 1000 {
		last = o.addNarinfos(1)
	}
	restarted := time.Now()
	r = startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "catch up", waitTimeout, func() bool {
		caughtUp := r.Status().CaughtUpAt.After(restarted)
		if caughtUp && !has(r, last[0]) {
			t.Fatalf("replica reported current while still behind the origin: %+v", r.Status())
		}
		return caughtUp
	})
}

func TestReplicator_RolledBackReplicaBootstrapsAnew(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	dir := t.TempDir()
	o.addNarinfos(2)
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	r.Close()
	backup := t.TempDir()
	if err := os.CopyFS(backup, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}

	later := o.addNarinfos(3)
	r = startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "later narinfos", waitTimeout, func() bool { return has(r, later[2]) })
	o.waitAcknowledged(r.Status().Slot)
	r.Close()

	// The replica comes back from the older copy, as after a restore.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(backup)); err != nil {
		t.Fatal(err)
	}
	r = startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "bootstrap of the restored replica", waitTimeout, func() bool { return r.Status().Bootstraps == 1 })
	if diff := cmp.Diff(o.contents(), contents(t, r)); diff != "" {
		t.Fatalf("replica differs from origin (-origin +replica):\n%s", diff)
	}
}

func TestReplicator_StaleSlotsOfOtherDatabasesStay(t *testing.T) {
	t.Parallel()
	other := newOrigin(t)
	ro := startReplicator(t, Config{ConnString: other.url, EdgeName: "e1", Dir: t.TempDir()})
	testutil.Eventually(t, "bootstrap on the other database", waitTimeout, func() bool { return ro.Status().Bootstrapped })
	ro.Close()

	o := newOrigin(t)
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: t.TempDir()})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	var n int
	if err := o.conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", ro.Status().Slot).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatal("bootstrap in one database dropped a slot of the same edge name in another")
	}
}

// freezingProxy forwards TCP connections to PostgreSQL until freeze, after
// which the connections it holds go silent without closing, as behind a
// dead network path.
type freezingProxy struct {
	ln     net.Listener
	target string
	frozen atomic.Bool
}

func newFreezingProxy(t *testing.T, target string) *freezingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			frozen := p.frozen.Load()
			pipe := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if err != nil {
						dst.Close()
						return
					}
					if p.frozen.Load() && !frozen {
						select {} // hold the connection open, forward nothing
					}
					dst.Write(buf[:n])
				}
			}
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
	return p
}

func TestReplicator_SilentConnectionIsReplaced(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	u, err := url.Parse(o.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newFreezingProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	r := startReplicator(t, Config{ConnString: u.String(), EdgeName: "e1", Dir: t.TempDir(), ReceiveTimeout: time.Second})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	proxy.frozen.Store(true)
	h := o.addNarinfos(1)
	testutil.Eventually(t, "a new connection", waitTimeout, func() bool { return r.Status().Reconnects > 0 })
	testutil.Eventually(t, "narinfo through the new connection", waitTimeout, func() bool { return has(r, h[0]) })
}

func TestReplicator_UnreadableReplicaIsRebuilt(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	dir := t.TempDir()
	hs := o.addNarinfos(2)
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	slot := r.Status().Slot
	r.Close()
	if err := os.RemoveAll(filepath.Join(dir, slot)); err != nil {
		t.Fatal(err)
	}
	r = startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "rebuilt replica", waitTimeout, func() bool { return has(r, hs[1]) })
}

func TestReplicator_ServedBodiesFollowWrites(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	hs := o.addNarinfos(3)
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: t.TempDir()})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	for range 3 { // served more than once, so from memory
		if got, _ := served(r, hs[0]); got != body(hs[0]) {
			t.Fatalf("served %q, want %q", got, body(hs[0]))
		}
	}
	o.exec("UPDATE narinfo SET body = 'changed\n' WHERE hash = $1", hs[0])
	testutil.Eventually(t, "updated body", waitTimeout, func() bool { got, _ := served(r, hs[0]); return got == "changed\n" })
	o.exec("DELETE FROM narinfo WHERE hash = $1", hs[0])
	testutil.Eventually(t, "deleted narinfo", waitTimeout, func() bool { return !has(r, hs[0]) })
	o.exec("TRUNCATE narinfo CASCADE")
	testutil.Eventually(t, "truncated table", waitTimeout, func() bool { return !has(r, hs[1]) && !has(r, hs[2]) })
	again := o.addNarinfos(1)
	testutil.Eventually(t, "insert after truncate", waitTimeout, func() bool { return has(r, again[0]) })
}

// A narinfo whose NAR file loses its last good copy is a miss on the edge,
// from the snapshot and from the stream, and comes back with its whole body
// (TOASTed, so not resent) when a good copy returns.
func TestReplicator_WithdrawnNarinfoIsAMiss(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.exec(`INSERT INTO store (name, kind, base_url) VALUES ('disk', 'local', 'http://origin.test')`)
	big := make([]byte, 32<<10)
	rand.Read(big)
	add := func(state string) (hash, url, text string) {
		hash = testutil.RandomHash()
		url = "nar/" + testutil.RandomHash() + testutil.RandomHash() + ".nar.xz"
		text = body(hash) + "URL: " + url + "\nX: " + fmt.Sprintf("%x", big) + "\n"
		o.exec(`INSERT INTO nar_file (url, file_hash, file_size, compression) VALUES ($1, 'sha256:x', 1, 'xz')`, url)
		o.exec(`INSERT INTO payload_location (url, store_id, key, size, state) SELECT $1, id, $1, 1, $2 FROM store WHERE name = 'disk'`, url, state)
		o.exec(`INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ($1, 'x', 'sha256:x', 1, $2)`, hash, text)
		o.exec(`INSERT INTO narinfo_file (narinfo_hash, url) VALUES ($1, $2)`, hash, url)
		return hash, url, text
	}
	h, url, text := add("good")
	h2, url2, text2 := add("missing") // withdrawn before the edge bootstraps
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: t.TempDir()})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	if got, ok := served(r, h); !ok || got != text {
		t.Fatalf("narinfo with a good copy: served %v (%d bytes)", ok, len(got))
	}
	if _, ok := served(r, h2); ok {
		t.Fatal("narinfo withdrawn at bootstrap is served")
	}
	o.exec(`UPDATE payload_location SET state = 'missing' WHERE url = $1`, url)
	testutil.Eventually(t, "withdrawal", waitTimeout, func() bool { return !has(r, h) })
	o.exec(`UPDATE payload_location SET state = 'good' WHERE url IN ($1, $2)`, url, url2)
	testutil.Eventually(t, "return", waitTimeout, func() bool { return has(r, h) && has(r, h2) })
	for hash, want := range map[string]string{h: text, h2: text2} {
		if got, _ := served(r, hash); got != want {
			t.Fatalf("body after return has %d bytes, want %d", len(got), len(want))
		}
	}
}

// An edge that rebuilds its replica while serving the old one says so at
// the origin, with the LSN the old one holds, until it has switched over:
// garbage collection keeps the payloads the old replica may send clients
// to.
func TestReplicator_RebuildIsRecordedAtTheOrigin(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	dir := t.TempDir()
	o.addNarinfos(2)
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	slot := r.Status().Slot
	o.waitAcknowledged(slot)
	served := r.Status().AppliedLSN
	r.Close()
	row := func() (rebuilding bool, lsn, slotName string) {
		t.Helper()
		var l *string
		if err := o.conn.QueryRow(t.Context(), `SELECT rebuilding_since IS NOT NULL, serving_lsn::text, slot_name FROM edge WHERE name = 'e1'`).
			Scan(&rebuilding, &l, &slotName); err != nil {
			t.Fatal(err)
		}
		if l != nil {
			lsn = *l
		}
		return rebuilding, lsn, slotName
	}
	if rebuilding, _, s := row(); rebuilding || s != slot {
		t.Fatalf("after the first bootstrap: rebuilding %v on slot %s, want not rebuilding on %s", rebuilding, s, slot)
	}

	// A transaction holding a lock on narinfo keeps the new slot from
	// being made (it waits for running transactions), so the rebuild
	// stays under way while the test looks.
	o.dropSlot(slot)
	tx, err := o.conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), "LOCK TABLE narinfo IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	r2 := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	other := pgtest.Connect(t, o.url)
	testutil.Eventually(t, "the rebuild recorded", waitTimeout, func() bool {
		var rebuilding bool
		err := other.QueryRow(t.Context(), `SELECT rebuilding_since IS NOT NULL FROM edge WHERE name = 'e1'`).Scan(&rebuilding)
		return err == nil && rebuilding
	})
	var lsn *string
	if err := other.QueryRow(t.Context(), `SELECT serving_lsn::text FROM edge WHERE name = 'e1'`).Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	if lsn == nil || *lsn != served.String() {
		t.Errorf("serving_lsn %v during the rebuild, want the old replica's %s", lsn, served)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "new bootstrap", waitTimeout, func() bool { return r2.Status().Bootstraps == 1 && r2.Status().Connected })
	testutil.Eventually(t, "the rebuild's end recorded", waitTimeout, func() bool {
		rebuilding, lsn, s := row()
		return !rebuilding && lsn == "" && s == r2.Status().Slot
	})
}
