package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/placement/maintain"
	"github.com/narthex-cache/narthex/stores"
)

// Each bad command line is one error naming what the user typed, and
// changes nothing.
func TestStoresMaintain_BadInput(t *testing.T) {
	t.Parallel()
	url := pgtest.NewOriginDatabase(t)
	conn := pgtest.Connect(t, url)
	if _, err := conn.Exec(t.Context(), `INSERT INTO store (name, kind, base_url, populate) VALUES ('s', 'local', 'http://s', true)`); err != nil {
		t.Fatal(err)
	}
	// A job a killed runner left open, which any pass would close.
	if _, err := conn.Exec(t.Context(), `INSERT INTO store_job (store_id, kind) SELECT id, 'populate' FROM store`); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--once", "--store", "nope"}, `--store: unknown store "nope"`},
		{[]string{"--once", "--jobs", "0"}, "--jobs 0 must be at least 1"},
		{[]string{"--once", "--verify-sample", "some"}, `--verify-sample "some"`},
		{[]string{"--once", "--verify-sample", "-2"}, `--verify-sample "-2"`},
		{[]string{"--interval", "0s"}, "--interval 0s must be positive"},
		{[]string{"--once", "--temp-max-age", "-1s"}, "--temp-max-age -1s must not be negative"},
		{[]string{"--once", "--bogus"}, "-bogus"},
	} {
		err := runStoresMaintain(t.Context(), append(tt.args, "--database-url", url))
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("stores maintain %q: %v, want one line with %q", tt.args, err, tt.want)
		}
	}
	if err := runStoresMaintain(t.Context(), []string{"--once"}); err == nil || !strings.Contains(err.Error(), "--database-url") {
		t.Errorf("stores maintain without a database: %v", err)
	}
	var open, jobs int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE finished_at IS NULL), count(*) FROM store_job`).Scan(&open, &jobs); err != nil {
		t.Fatal(err)
	}
	if open != 1 || jobs != 1 {
		t.Errorf("bad command lines changed the jobs: %d open of %d", open, jobs)
	}
}

// A maintain killed (SIGKILL) in the middle of a backfill and run again
// leaves every file copied, hashed right, and none written twice: the
// files copied before the kill are untouched, and the second run copies
// only what the first left, taking the files the first wrote but did not
// record as they are.
func TestStoresMaintain_KilledBackfillResumes(t *testing.T) {
	t.Parallel()
	url := pgtest.NewOriginDatabase(t)
	conn := pgtest.Connect(t, url)
	ctx := t.Context()
	srcDir, mirrorDir := tempDir(t), tempDir(t)
	settings, _ := json.Marshal(map[string]string{"dir": srcDir})
	var srcID, mirrorID int32
	if err := conn.QueryRow(ctx, `INSERT INTO store (name, kind, base_url, settings) VALUES ('src', 'local', 'http://src', $1) RETURNING id`, settings).Scan(&srcID); err != nil {
		t.Fatal(err)
	}
	// The mirror's settings name no directory: --local-store gives it.
	if err := conn.QueryRow(ctx, `INSERT INTO store (name, kind, base_url, populate) VALUES ('mirror', 'local', 'http://mirror', true) RETURNING id`).Scan(&mirrorID); err != nil {
		t.Fatal(err)
	}

	const files, size = 300, 32 << 10
	src, err := stores.Open(srcDir)
	if err != nil {
		t.Fatal(err)
	}
	var urls, hashes []string
	var sizes []int64
	var ages []int32
	data := map[string][]byte{}
	for i := range files {
		b := make([]byte, size+i)
		rand.Read(b)
		sum := sha256.Sum256(b)
		h := nixbase32.EncodeToString(sum[:])
		u := "nar/" + h + ".nar"
		urls, hashes, sizes, ages = append(urls, u), append(hashes, "sha256:"+h), append(sizes, int64(len(b))), append(ages, int32(i))
		data[u] = b
		if i == files-1 {
			continue // the oldest, copied last, is a FIFO below
		}
		if _, _, err := src.Put(ctx, u, bytes.NewReader(b), nil); err != nil {
			t.Fatal(err)
		}
	}
	// Opening the FIFO blocks until the test replaces it, so the first
	// run cannot end before it is killed.
	fifo := filepath.Join(srcDir, urls[files-1])
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `
		INSERT INTO nar_file (url, file_hash, file_size, compression, created_at)
		SELECT u, h, s, 'none', now() - make_interval(secs => a)
		FROM unnest($1::text[], $2::text[], $3::bigint[], $4::int[]) AS t(u, h, s, a)`, urls, hashes, sizes, ages); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO payload_location (url, store_id, key, size) SELECT url, $1, url, file_size FROM nar_file`, srcID); err != nil {
		t.Fatal(err)
	}

	args := []string{"stores", "maintain", "--once", "--jobs", "4", "--verify-sample", "0",
		"--local-store", mirrorDir, "--database-url", url}
	recorded := func() (n int, bytes int64) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM payload_location WHERE store_id = $1 AND state = 'good'`, mirrorID).Scan(&n, &bytes); err != nil {
			t.Fatal(err)
		}
		return n, bytes
	}
	first := startNarthex(t, args...)
	testutil.Eventually(t, "a third of the files copied", 2*time.Minute, func() bool {
		select {
		case <-first.exited:
			t.Fatalf("the first run exited before it was killed:\n%s", first.logs())
		default:
		}
		n, _ := recorded()
		return n >= files/3
	})
	first.kill()
	// A statement the killed process sent still commits: read what it
	// recorded once its sessions are gone.
	testutil.Eventually(t, "the killed run's sessions to end", time.Minute, func() bool {
		var n int
		conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
		return n == 0
	})
	done, doneBytes := recorded()
	if done >= files {
		t.Fatalf("all %d files recorded before the kill", done)
	}

	// What the second run finds: the files the first recorded (which must
	// stay as they are), and those it wrote but did not record.
	if err := os.Remove(fifo); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.Put(ctx, urls[files-1], bytes.NewReader(data[urls[files-1]]), nil); err != nil {
		t.Fatal(err)
	}
	type stamp struct {
		size  int64
		mtime time.Time
		ino   uint64
	}
	before := map[string]stamp{}
	filepath.WalkDir(mirrorDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".tmp-") {
			return err
		}
		fi, _ := d.Info()
		rel, _ := filepath.Rel(mirrorDir, p)
		before[filepath.ToSlash(rel)] = stamp{fi.Size(), fi.ModTime(), fi.Sys().(*syscall.Stat_t).Ino}
		return nil
	})
	var total int64
	for _, s := range sizes {
		total += s
	}
	unrecorded := int64(len(before) - done)
	var unrecordedBytes int64
	for _, s := range before {
		unrecordedBytes += s.size
	}
	unrecordedBytes -= doneBytes

	t.Logf("killed with %d files recorded, %d more written", done, unrecorded)
	second := startNarthex(t, args...)
	select {
	case <-second.exited:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the second run did not end:\n%s", second.logs())
	}
	if code := second.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("the second run exited %d:\n%s", code, second.logs())
	}

	if n, b := recorded(); n != files || b != total {
		t.Errorf("mirror records %d files of %d bytes, want %d of %d", n, b, files, total)
	}
	for _, u := range urls {
		b, err := os.ReadFile(filepath.Join(mirrorDir, u))
		if err != nil || !bytes.Equal(b, data[u]) {
			t.Errorf("mirror's %s: %d bytes, %v; not the file's", u, len(b), err)
		}
	}
	filepath.WalkDir(mirrorDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(mirrorDir, p)
		s, ok := before[filepath.ToSlash(rel)]
		if !ok {
			return nil
		}
		fi, _ := d.Info()
		if now := (stamp{fi.Size(), fi.ModTime(), fi.Sys().(*syscall.Stat_t).Ino}); now != s {
			t.Errorf("%s was written again by the second run", rel)
		}
		return nil
	})

	// The first run's job is closed as interrupted; the second did what
	// was left, copying only the files that were not in the mirror.
	var firstErr string
	var open int
	if err := conn.QueryRow(ctx, `SELECT error FROM store_job WHERE kind = 'populate' ORDER BY id LIMIT 1`).Scan(&firstErr); err != nil {
		t.Fatal(err)
	}
	conn.QueryRow(ctx, `SELECT count(*) FROM store_job WHERE finished_at IS NULL`).Scan(&open)
	if firstErr != "interrupted" || open != 0 {
		t.Errorf("first job's error %q, %d jobs open; want interrupted, 0", firstErr, open)
	}
	var jTotal, jDone, jBytes, jFailed int64
	if err := conn.QueryRow(ctx, `SELECT total, done, bytes, failed FROM store_job WHERE kind = 'populate' ORDER BY id DESC LIMIT 1`).Scan(&jTotal, &jDone, &jBytes, &jFailed); err != nil {
		t.Fatal(err)
	}
	left := int64(files - done)
	if jTotal != left || jDone != left || jFailed != 0 || jBytes != total-doneBytes-unrecordedBytes {
		t.Errorf("second job: %d of %d done, %d failed, %d bytes; want %d of %d, 0, %d (%d bytes left, %d in %d files already written)",
			jDone, jTotal, jFailed, jBytes, left, left, total-doneBytes-unrecordedBytes, total-doneBytes, unrecordedBytes, unrecorded)
	}
	if want := fmt.Sprintf("populate mirror: %d of %d done", left, left); !strings.Contains(strings.Join(second.stdout, "\n"), want) {
		t.Errorf("second run's summary %q lacks %q", second.stdout, want)
	}
}

// On a terminal each job gets a bar that ends on its own line; otherwise
// progress is logged every few seconds and at each job's end.
func TestProgressView(t *testing.T) {
	t.Parallel()
	var bars, logs bytes.Buffer
	v := &progressView{tty: true, w: &bars, log: slog.New(slog.NewTextHandler(&logs, nil))}
	for _, p := range []maintain.Progress{
		{Store: "eu", Kind: maintain.KindPopulate, Total: 3},
		{Store: "eu", Kind: maintain.KindPopulate, Total: 3, Done: 1},
		{Store: "eu", Kind: maintain.KindPopulate, Total: 3, Done: 2, Failed: 1, Finished: true},
		{Store: "old", Kind: maintain.KindDrain, Total: 1},
	} {
		v.update(p)
	}
	v.stop()
	out := bars.String()
	for _, want := range []string{"populate eu (1 failed)", "3/3", "drain old"} {
		if !strings.Contains(out, want) {
			t.Errorf("bars %q lack %q", out, want)
		}
	}
	if logs.Len() != 0 {
		t.Errorf("progress logged on a terminal: %s", logs.String())
	}

	bars.Reset()
	v = &progressView{tty: false, w: &bars, log: slog.New(slog.NewTextHandler(&logs, nil))}
	for i := range 10 {
		v.update(maintain.Progress{Store: "eu", Kind: maintain.KindPopulate, Total: 10, Done: int64(i)})
	}
	v.update(maintain.Progress{Store: "eu", Kind: maintain.KindPopulate, Total: 10, Done: 10, Finished: true})
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "done=10") || !strings.Contains(lines[1], "finished=true") || bars.Len() != 0 {
		t.Errorf("logged %q and drew %q; want a first line and the end", lines, bars.String())
	}
}
