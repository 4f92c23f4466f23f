package replication

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/replica"
	"github.com/narthex-cache/narthex/replica/replicatest"
)

// A replica with a table that fails its checksum is served for what it can
// still read while a new one is bootstrapped under a new slot; the new one
// holds everything.
func TestReplicator_CorruptReplicaAtOpenIsRebuilt(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	dir := t.TempDir()
	hs := o.addNarinfos(200)
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	slot := r.Status().Slot
	r.Close()
	// The first hash is in the first block, apart from the stores.
	replicatest.CorruptTable(t, filepath.Join(dir, slot), slices.Min(hs))

	r = startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "a new bootstrap", waitTimeout, func() bool { st := r.Status(); return st.Bootstraps == 1 && st.Slot != slot })
	if n := r.Status().Corruptions; n != 1 {
		t.Errorf("%d corruptions counted, want 1", n)
	}
	if diff := cmp.Diff(o.contents(), contents(t, r)); diff != "" {
		t.Fatalf("rebuilt replica differs from origin (-origin +replica):\n%s", diff)
	}
	later := o.addNarinfos(1)
	testutil.Eventually(t, "stream on the new slot", waitTimeout, func() bool { return has(r, later[0]) })
}

// A corrupt block found by a read while the replica streams fails that
// read only, and the replica is rebuilt.
func TestReplicator_CorruptBlockWhileServingIsRebuilt(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	dir := t.TempDir()
	o.exec(`INSERT INTO store (name, kind, base_url) VALUES ('local', 'local', 'http://origin.test')`)
	var urls []string
	for range 400 {
		urls = append(urls, "nar/"+testutil.RandomHash()+testutil.RandomHash()+".nar.xz")
	}
	o.exec(`INSERT INTO nar_file (url, file_hash, file_size, compression) SELECT u, 'sha256:x', 1, 'xz' FROM unnest($1::text[]) u`, urls)
	o.exec(`INSERT INTO payload_location (url, store_id, key) SELECT u, (SELECT id FROM store), u FROM unnest($1::text[]) u`, urls)
	hs := o.addNarinfos(20)
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	slot := r.Status().Slot
	r.Close()
	// Locations are not read at open: a redirect finds the damage. The
	// middle one is in a block of locations only.
	slices.Sort(urls)
	victim := urls[len(urls)/2]
	replicatest.CorruptTable(t, filepath.Join(dir, slot), victim[10:40])

	r = startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "streaming on the old slot", waitTimeout, func() bool { return r.Status().Connected })
	if st := r.Status(); st.Bootstraps != 0 || st.Corruptions != 0 {
		t.Fatalf("before the damaged block is read: %+v", st)
	}
	if _, err := locations(r, victim); !errors.Is(err, replica.ErrCorrupt) {
		t.Fatalf("redirect through the damaged block: %v, want replica.ErrCorrupt", err)
	}
	for _, h := range hs {
		if !has(r, h) {
			t.Fatalf("narinfo %s outside the damaged block not served", h)
		}
	}
	testutil.Eventually(t, "a new bootstrap", waitTimeout, func() bool { st := r.Status(); return st.Bootstraps == 1 && st.Slot != slot })
	got, err := locations(r, victim)
	if err != nil || len(got) != 1 || !strings.Contains(got[0], " http://origin.test/"+victim+" ") {
		t.Fatalf("rebuilt replica: locations %v, %v", got, err)
	}
	if diff := cmp.Diff(o.contents(), contents(t, r)); diff != "" {
		t.Fatalf("rebuilt replica differs from origin (-origin +replica):\n%s", diff)
	}
	if n := r.Status().Corruptions; n != 1 {
		t.Errorf("%d corruptions counted, want 1", n)
	}
}
