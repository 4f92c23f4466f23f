package edge

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/replica"
	"github.com/narthex-cache/narthex/replica/replicatest"
)

// An edge over a replica with a corrupt table answers what it can read,
// answers 503 (retried by clients) for what it cannot, says it is not
// ready, and keeps running.
func TestServer_CorruptReplica(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "replica")
	rep, err := replica.Create(dir, replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := rep.Load(200, nil)
	var hashes []string
	for range 200 {
		h := testutil.RandomHash()
		hashes = append(hashes, h)
		if err := l.Set("narinfo", map[string][]byte{"hash": []byte(h), "body": []byte("StorePath: /nix/store/" + h + "-x\n")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Finish(context.Background(), replica.State{LSN: 1, Slot: "narthex_t_1", System: "1"}); err != nil {
		t.Fatal(err)
	}
	rep.Close()
	slices.Sort(hashes)
	// The first hash is in the first block, the last far from it.
	replicatest.CorruptTable(t, dir, hashes[0])
	rep, err = replica.Open(dir, replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	addr, _ := serve(t, Config{}, &source{rep: rep})
	base := "http://" + addr

	if code, _, body := get(t, "GET", base+"/"+hashes[0]+".narinfo"); code != 503 || body != "replica read failed; try again\n" {
		t.Errorf("narinfo in the corrupt block = %d %q, want 503", code, body)
	}
	last := hashes[len(hashes)-1]
	if code, _, body := get(t, "GET", base+"/"+last+".narinfo"); code != 200 || body != "StorePath: /nix/store/"+last+"-x\n" {
		t.Errorf("narinfo outside the corrupt block = %d %q, want 200", code, body)
	}
	if code, _, body := get(t, "GET", base+"/readyz"); code != 503 || !strings.Contains(body, "corrupt") {
		t.Errorf("readyz = %d %q, want 503 saying the replica is corrupt", code, body)
	}
	if _, _, m := get(t, "GET", base+"/metrics"); !strings.Contains(m, "narthex_edge_replica_errors_total 1") {
		t.Errorf("metrics do not count the failed read:\n%s", m)
	}
}
