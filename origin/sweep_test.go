package origin

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/testutil"
)

// TestServe_SweepsCrashLeftovers plants what crashed uploads leave in the
// local store, starts the origin, and checks that it removes the stale
// temporary file, keeps the fresh one, records the NAR file whose bytes
// match its name and removes the one whose bytes do not.
func TestServe_SweepsCrashLeftovers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	recorded := newNar("uploaded properly", ".xz")
	h.putNar(recorded)

	dir := h.cfg.LocalStoreDir
	plant := func(rel string, data []byte, age time.Duration) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		when := time.Now().Add(-age)
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
	}
	unrecorded := newNar("renamed into place, then the origin was killed", ".zst")
	corrupt := newNar("what the name says", ".xz")
	// Bytes garbage collection retired, waiting behind the edges to be
	// deleted: not a leftover to record again.
	collected := newNar("collected, its deletion waiting for the edges", ".xz")
	plant(collected.url, collected.data, 2*time.Hour)
	h.exec(`INSERT INTO payload_tombstone (url, store_id, key, size) VALUES ($1, $2, $1, 10)`, collected.url, h.srv.storeID)
	plant("nar/.tmp-1234", []byte("half an upload"), 2*time.Hour)
	plant("nar/.tmp-5678", []byte("an upload in progress"), time.Minute)
	plant(unrecorded.url, unrecorded.data, 2*time.Hour)
	plant(corrupt.url, []byte("something else"), 2*time.Hour)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	var size int64
	var compression string
	testutil.Eventually(t, "the unrecorded NAR file recorded", patience, func() bool {
		err := h.db.QueryRow(t.Context(), `
			SELECT f.file_size, f.compression FROM nar_file f
			JOIN payload_location l ON l.url = f.url AND l.store_id = $2 AND l.key = f.url
			WHERE f.url = $1 AND f.file_hash = $3`, unrecorded.url, h.srv.storeID, unrecorded.hash).Scan(&size, &compression)
		return err == nil
	})
	if size != int64(len(unrecorded.data)) || compression != "zstd" {
		t.Errorf("recorded %s with size %d and compression %s, want %d and zstd", unrecorded.url, size, compression, len(unrecorded.data))
	}
	testutil.Eventually(t, "the stale temporary file and the corrupt NAR file removed", patience, func() bool {
		files := h.snapshot().Files
		return !slices.Contains(files, "nar/.tmp-1234") && !slices.Contains(files, corrupt.url)
	})
	files := h.snapshot().Files
	for _, kept := range []string{"nar/.tmp-5678", recorded.url, unrecorded.url, collected.url} {
		if !slices.Contains(files, kept) {
			t.Errorf("%s was removed; files left: %q", kept, files)
		}
	}
	var rows int
	if err := h.db.QueryRow(t.Context(), `SELECT count(*) FROM nar_file WHERE url = ANY ($1)`, []string{corrupt.url, collected.url}).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("the corrupt and the collected NAR files have %d rows (%v), want none", rows, err)
	}

	// The recorded file serves a narinfo like any uploaded one.
	info := nixInfo("recovered", unrecorded)
	info.Files[0].Compression = "zstd"
	h.putInfo(info)

	// A file is counted once it is gone, so the counts may come a little
	// after the files are seen gone.
	wants := []string{
		"narthex_origin_sweep_temp_files_removed_total 1",
		"narthex_origin_sweep_temp_bytes_removed_total 14",
		`narthex_origin_sweep_nar_files_total{action="recorded"} 1`,
		`narthex_origin_sweep_nar_files_total{action="removed"} 1`,
	}
	testutil.Eventually(t, "the sweep's counts", patience, func() bool {
		body := h.do(http.MethodGet, "/metrics", nil).body
		for _, want := range wants {
			if !strings.Contains(body, want) {
				return false
			}
		}
		return true
	})
}
