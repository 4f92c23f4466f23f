package origin

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// status is the status of a GET of path.
func (h *harness) status(path string) int {
	h.t.Helper()
	return h.do(http.MethodGet, path, nil).status
}

func (h *harness) withdrawnMetric() string {
	h.t.Helper()
	for line := range strings.Lines(h.do(http.MethodGet, "/metrics", nil).body) {
		if v, ok := strings.CutPrefix(line, "narthex_origin_narinfos_withdrawn "); ok {
			return strings.TrimSpace(v)
		}
	}
	h.t.Fatal("no narthex_origin_narinfos_withdrawn in /metrics")
	return ""
}

// A NAR file gone from the only store that had it takes its narinfo out of
// service, and uploading it again puts the narinfo back, as a new nix copy
// would.
func TestWithdrawn_NarGoneFromItsOnlyStoreAndBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	n := newNar("payload of a", ".xz")
	ni := nixInfo("a", n)
	h.putNar(n)
	h.putInfo(ni)
	if got := h.status("/" + ni.Hash + ".narinfo"); got != http.StatusOK {
		t.Fatalf("narinfo: %d, want 200", got)
	}
	if err := os.Remove(filepath.Join(h.cfg.LocalStoreDir, n.url)); err != nil {
		t.Fatal(err)
	}
	// Asked for the file, the origin finds it gone and says so.
	if got := h.status("/" + n.url); got != http.StatusNotFound {
		t.Fatalf("NAR: %d, want 404", got)
	}
	var state string
	if err := h.db.QueryRow(t.Context(), `SELECT state FROM payload_location WHERE url = $1`, n.url).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != "missing" {
		t.Fatalf("location state %q, want missing", state)
	}
	if got := h.status("/" + ni.Hash + ".narinfo"); got != http.StatusNotFound {
		t.Fatalf("narinfo of a file with no good copy: %d, want 404", got)
	}
	if got := h.withdrawnMetric(); got != "1" {
		t.Fatalf("withdrawn narinfos %s, want 1", got)
	}
	// The narinfo itself is kept: uploading it again is accepted as equal.
	h.putInfo(ni)
	if got := h.status("/" + ni.Hash + ".narinfo"); got != http.StatusNotFound {
		t.Fatalf("narinfo re-uploaded without its file: %d, want 404", got)
	}

	h.putNar(n)
	if got := h.status("/" + ni.Hash + ".narinfo"); got != http.StatusOK {
		t.Fatalf("narinfo once its file is back: %d, want 200", got)
	}
	if got := h.withdrawnMetric(); got != "0" {
		t.Fatalf("withdrawn narinfos %s, want 0", got)
	}
	if got := h.status("/" + n.url); got != http.StatusOK {
		t.Fatalf("NAR once back: %d, want 200", got)
	}
}

// Another good copy keeps a narinfo in service, unless clients cannot
// download from its store.
func TestWithdrawn_AnotherCopyKeepsItUnlessWriteOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	n := newNar("payload of b", ".xz")
	ni := nixInfo("b", n)
	h.putNar(n)
	h.putInfo(ni)
	h.addLocalStore("backup", "", "")
	h.exec(`INSERT INTO payload_location (url, store_id, key, size)
		SELECT $1, id, $1, $2 FROM store WHERE name = 'backup'`, n.url, len(n.data))
	if err := os.Remove(filepath.Join(h.cfg.LocalStoreDir, n.url)); err != nil {
		t.Fatal(err)
	}
	if got := h.status("/" + n.url); got != http.StatusNotFound {
		t.Fatalf("NAR: %d, want 404", got)
	}
	if got := h.status("/" + ni.Hash + ".narinfo"); got != http.StatusOK {
		t.Fatalf("narinfo with a good copy elsewhere: %d, want 200", got)
	}
	h.exec(`UPDATE store SET write_only = true WHERE name = 'backup'`)
	if got := h.status("/" + ni.Hash + ".narinfo"); got != http.StatusNotFound {
		t.Fatalf("narinfo whose only good copy is write-only: %d, want 404", got)
	}
	h.exec(`UPDATE store SET write_only = false WHERE name = 'backup'`)
	if got := h.status("/" + ni.Hash + ".narinfo"); got != http.StatusOK {
		t.Fatalf("narinfo once the backup is readable again: %d, want 200", got)
	}
	// A copy found corrupt is no copy.
	h.exec(`UPDATE payload_location SET state = 'corrupt' WHERE store_id = (SELECT id FROM store WHERE name = 'backup')`)
	if got := h.status("/" + ni.Hash + ".narinfo"); got != http.StatusNotFound {
		t.Fatalf("narinfo whose only other copy is corrupt: %d, want 404", got)
	}
	// Deleting the bad location changes nothing; a good one restores it.
	h.exec(`DELETE FROM payload_location WHERE store_id = (SELECT id FROM store WHERE name = 'backup')`)
	if got := h.status("/" + ni.Hash + ".narinfo"); got != http.StatusNotFound {
		t.Fatalf("narinfo with no location left: %d, want 404", got)
	}
	h.putNar(n)
	if got := h.status("/" + ni.Hash + ".narinfo"); got != http.StatusOK {
		t.Fatalf("narinfo once uploaded again: %d, want 200", got)
	}
}
