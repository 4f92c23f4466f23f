package maintain

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/config"
	"github.com/narthex-cache/narthex/internal/testutil"
)

// Verification marks a copy with a changed byte corrupt and a deleted one
// missing, and records the others verified. A narinfo whose last good
// copy clients download went bad is withdrawn, and restored when a
// populated store gets a good copy from the backup.
func TestMaintainer_Verify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("main", "")
	e.store("backup", "write_only = true")
	e.store("mirror", "")
	corrupt, missing, fine := e.file(1000, time.Hour), e.file(1000, time.Hour), e.file(1000, time.Hour)
	for _, n := range []nar{corrupt, missing, fine} {
		e.put("main", n)
	}
	e.put("backup", corrupt)
	b := append([]byte(nil), corrupt.data...)
	b[500] ^= 0x80
	if err := os.WriteFile(e.path("main", corrupt), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(e.path("main", missing)); err != nil {
		t.Fatal(err)
	}

	m := e.maintainer(Config{VerifySample: VerifyAll})
	sum := e.run(m, "main")
	want := map[string]string{corrupt.url: "corrupt", missing.url: "missing", fine.url: "good"}
	got := e.states("main")
	for url, state := range want {
		if got[url] != state {
			t.Errorf("location of %s is %q, want %q", url, got[url], state)
		}
	}
	j := jobOf(t, sum, "main", KindVerify)
	if j.Total != 3 || j.Done != 1 || j.Failed != 2 || j.Error != "1 corrupt, 1 missing" {
		t.Errorf("verify job %+v, want 1 done and the 2 bad ones failed", j)
	}
	for _, s := range []string{"key=" + corrupt.url, "key=" + missing.url} {
		if !e.logs.contains("store=main " + s) {
			t.Errorf("no log of the bad copy %s:\n%s", s, e.logs.String())
		}
	}
	var verified int
	e.db.QueryRow(t.Context(), `SELECT count(*) FROM payload_location WHERE store_id = $1 AND verified_at IS NOT NULL`, e.ids["main"]).Scan(&verified)
	if verified != 1 {
		t.Errorf("%d locations of main verified, want 1", verified)
	}
	if !e.withdrawn(corrupt) || !e.withdrawn(missing) || e.withdrawn(fine) {
		t.Errorf("withdrawn: corrupt %t, missing %t, fine %t; want true, true, false",
			e.withdrawn(corrupt), e.withdrawn(missing), e.withdrawn(fine))
	}

	// The mirror is populated from the backup, the only good copy: the
	// narinfo returns. The missing one has no good copy left to copy.
	e.exec(`UPDATE store SET populate = true WHERE name = 'mirror'`)
	sum = e.run(m, "mirror")
	if e.states("mirror")[corrupt.url] != "good" || e.withdrawn(corrupt) {
		t.Errorf("after populating the mirror: location %q, withdrawn %t; want good, false",
			e.states("mirror")[corrupt.url], e.withdrawn(corrupt))
	}
	if j := jobOf(t, sum, "mirror", KindPopulate); j.Done != 2 || j.Failed != 1 || !strings.Contains(j.Error, "no good copy") {
		t.Errorf("populate job %+v; want 2 done, 1 without a source", j)
	}
}

// A sample verifies the least recently verified first.
func TestMaintainer_VerifySample(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("s", "")
	var ns []nar
	for range 5 {
		n := e.file(100, time.Hour)
		e.put("s", n)
		ns = append(ns, n)
	}
	e.exec(`UPDATE payload_location SET verified_at = now() - interval '1 day' WHERE url <> $1 AND url <> $2`, ns[0].url, ns[1].url)
	e.exec(`UPDATE payload_location SET verified_at = now() - interval '2 days' WHERE url = $1`, ns[2].url)
	e.run(e.maintainer(Config{VerifySample: 3}), "")
	rows, _ := e.db.Query(t.Context(), `SELECT url FROM payload_location WHERE verified_at > now() - interval '1 hour'`)
	got := map[string]bool{}
	for rows.Next() {
		var u string
		rows.Scan(&u)
		got[u] = true
	}
	if len(got) != 3 || !got[ns[0].url] || !got[ns[1].url] || !got[ns[2].url] {
		t.Errorf("verified %v; want the two never verified and the oldest", got)
	}
}

// The sweep removes temporary files older than TempMaxAge and nothing
// else.
func TestMaintainer_Sweep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("s", "")
	n := e.file(100, time.Hour)
	e.put("s", n)
	now := time.Now()
	for name, age := range map[string]time.Duration{".tmp-old": 3 * time.Hour, ".tmp-fresh": time.Minute} {
		p := filepath.Join(e.dirs["s"], "nar", name)
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, now.Add(-age), now.Add(-age))
	}
	sum := e.run(e.maintainer(Config{TempMaxAge: time.Hour}), "")
	if _, err := os.Stat(filepath.Join(e.dirs["s"], "nar", ".tmp-old")); !os.IsNotExist(err) {
		t.Errorf("old temporary file still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.dirs["s"], "nar", ".tmp-fresh")); err != nil {
		t.Errorf("fresh temporary file gone: %v", err)
	}
	if _, err := os.Stat(e.path("s", n)); err != nil {
		t.Errorf("stored file gone: %v", err)
	}
	if j := jobOf(t, sum, "s", KindSweep); j.Done != 1 || j.Bytes != 7 {
		t.Errorf("sweep job %+v, want 1 file of 7 bytes", j)
	}
	var rows int
	e.db.QueryRow(t.Context(), `SELECT count(*) FROM store_job WHERE kind = 'sweep' AND done = 1 AND finished_at IS NOT NULL`).Scan(&rows)
	if rows != 1 {
		t.Errorf("%d sweep job rows, want 1", rows)
	}
}

// While a pass runs, a second runner does nothing and says who holds the
// lock.
func TestMaintainer_OneRunnerAtATime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("src", "")
	e.store("mirror", "populate = true")
	e.put("src", e.file(100, time.Hour))
	blocked, release := make(chan struct{}), make(chan struct{})
	e.wrapPut = func(ctx context.Context, dir string) error {
		close(blocked)
		<-release
		return nil
	}
	first := e.maintainer(Config{Name: "first runner"})
	done := make(chan error, 1)
	go func() {
		_, err := first.RunOnce(context.Background(), "")
		done <- err
	}()
	<-blocked
	var jobs int
	e.db.QueryRow(t.Context(), `SELECT count(*) FROM store_job`).Scan(&jobs)

	_, err := e.maintainer(Config{Name: "second runner"}).RunOnce(t.Context(), "")
	var held *LockedError
	if !errors.As(err, &held) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second runner: %v, want a LockedError", err)
	}
	if held.ApplicationName != "first runner" || held.PID == 0 || !strings.Contains(err.Error(), `"first runner"`) {
		t.Errorf("second runner's error %q (%+v) does not name the first", err, held)
	}
	var after int
	e.db.QueryRow(t.Context(), `SELECT count(*) FROM store_job`).Scan(&after)
	if after != jobs {
		t.Errorf("second runner changed the jobs: %d rows, then %d", jobs, after)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The lock is free again.
	testutil.Eventually(t, "the lock to be free", 30*time.Second, func() bool {
		_, err := e.maintainer(Config{}).RunOnce(t.Context(), "")
		return err == nil
	})
}

// A pass asked for an unknown store changes nothing.
func TestMaintainer_UnknownStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("s", "populate = true")
	e.exec(`INSERT INTO store_job (store_id, kind) VALUES ($1, 'populate')`, e.ids["s"])
	_, err := e.maintainer(Config{}).RunOnce(t.Context(), "nope")
	if !errors.Is(err, ErrUnknownStore) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("RunOnce(nope) = %v, want ErrUnknownStore naming it", err)
	}
	var open int
	e.db.QueryRow(t.Context(), `SELECT count(*) FROM store_job WHERE finished_at IS NULL`).Scan(&open)
	if open != 1 {
		t.Errorf("an unknown store's pass closed jobs")
	}
}

func TestConfig_Validate(t *testing.T) {
	e := newEnv(t)
	ok := Config{DB: e.db, Open: e.open}
	for _, tt := range []struct {
		field string
		cfg   func(c *Config)
	}{
		{"DB", func(c *Config) { c.DB = nil }},
		{"Open", func(c *Config) { c.Open = nil }},
		{"Jobs", func(c *Config) { c.Jobs = -1 }},
		{"TempMaxAge", func(c *Config) { c.TempMaxAge = -time.Second }},
		{"JobRetention", func(c *Config) { c.JobRetention = -time.Second }},
		{"JobUpdateInterval", func(c *Config) { c.JobUpdateInterval = -time.Second }},
	} {
		c := ok
		tt.cfg(&c)
		var ce *config.Error
		if err := c.Validate(); !errors.As(err, &ce) || ce.Field != tt.field {
			t.Errorf("Validate with bad %s = %v", tt.field, err)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate of a good config: %v", err)
	}
}
