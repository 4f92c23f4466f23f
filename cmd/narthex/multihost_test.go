package main

import (
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/narthex-cache/narthex/internal/netnstest"
	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/origin"
	"github.com/narthex-cache/narthex/pgcluster"
	"github.com/narthex-cache/narthex/replication"
	"github.com/narthex-cache/narthex/sql"
)

const (
	// multihostPGPort is the origin PostgreSQL's port on its host.
	multihostPGPort = 5432
	// multihostMaxLag is the edges' --max-lag: short, so that a cut edge
	// is soon not ready.
	multihostMaxLag = 5 * time.Second
	// multihostCut is how long edge-a's port on the backbone stays cut.
	multihostCut = 30 * time.Second
	// convergeWait bounds how long an edge may take to catch up once it
	// can reach the origin again: generous, for a loaded machine.
	convergeWait = 2 * time.Minute
)

// multihost is the network of TestMultihost: an origin host running
// PostgreSQL and narthex origin and two edge hosts, all plugged into a
// backbone switch, and each linked to the test's namespace, where the
// uploader and the checks run, by a client link of its own.
type multihost struct {
	origin, edgeA, edgeB *netnstest.Host
	toOrigin, toA, toB   *netnstest.Link // client links: test's end A, host's end B
	// The hosts' ports on the backbone.
	originPort, edgeAPort, edgeBPort *netnstest.Port
	pg                               *pgcluster.Cluster
	dbURL                            string // the origin database, from the test's namespace
	originBase, aBase, bBase         string // HTTP bases, from the test's namespace
	edgeADir, edgeBDir               string // replica dirs
	edgeAProc, edgeBProc             *proc
}

func newMultihost(t *testing.T) *multihost {
	t.Helper()
	m := &multihost{}
	n := netnstest.New(t)
	m.origin, m.edgeA, m.edgeB = n.AddHost("origin"), n.AddHost("edge-a"), n.AddHost("edge-b")
	m.toOrigin, m.toA, m.toB = n.Connect(n.Self(), m.origin), n.Connect(n.Self(), m.edgeA), n.Connect(n.Self(), m.edgeB)
	backbone := n.AddSwitch("backbone")
	m.originPort, m.edgeAPort, m.edgeBPort = backbone.Plug(m.origin), backbone.Plug(m.edgeA), backbone.Plug(m.edgeB)

	// PostgreSQL on the origin host, taking connections from that host
	// itself, from the test's end of its client link and from the edges on
	// the backbone. Its settings are the durable defaults: a commit is
	// acknowledged once it is in the WAL.
	dir := tempDir(t)
	hba := filepath.Join(tempDir(t), "pg_hba.conf")
	rules := "local all all trust\nhost all all 127.0.0.1/32 trust\n"
	for _, a := range []netip.Addr{m.toOrigin.AddrA, m.edgeAPort.Addr, m.edgeBPort.Addr} {
		rules += fmt.Sprintf("host all all %s/32 trust\n", a)
	}
	if err := os.WriteFile(hba, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	pg, err := pgcluster.Start(t.Context(), pgcluster.Config{Dir: dir, Port: multihostPGPort, Netns: m.origin.NS,
		Settings: map[string]string{"hba_file": hba}, BinDir: os.Getenv(pgtest.BinDirEnv)})
	if err != nil {
		t.Fatalf("origin postgresql: %v", err)
	}
	t.Cleanup(func() {
		// A failed test may leave a walsender writing to a cut link,
		// which a fast shutdown would wait for; the data is not needed.
		stop := pg.Stop
		if t.Failed() {
			stop = pg.Kill
		}
		if err := stop(); err != nil {
			t.Errorf("stop origin postgresql: %v", err)
		}
	})
	m.pg = pg
	if err := pg.CreateDatabase(t.Context(), "narthex"); err != nil {
		t.Fatal(err)
	}
	m.dbURL = pgURL(m.toOrigin.AddrB)
	if err := sql.MigrateURL(t.Context(), m.dbURL); err != nil {
		t.Fatal(err)
	}
	m.originBase = fmt.Sprintf("http://%s:8080", m.toOrigin.AddrB)
	m.aBase = fmt.Sprintf("http://%s:8081", m.toA.AddrB)
	m.bBase = fmt.Sprintf("http://%s:8081", m.toB.AddrB)
	m.edgeADir, m.edgeBDir = tempDir(t), tempDir(t)
	return m
}

// pgURL is the origin database at addr.
func pgURL(addr netip.Addr) string {
	return fmt.Sprintf("postgres://postgres@%s:%d/narthex?sslmode=disable", addr, multihostPGPort)
}

// startOn runs narthex args... on host h.
func startOn(t *testing.T, h *netnstest.Host, args ...string) *proc {
	t.Helper()
	cmd := h.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "NARTHEX_TEST_AS_MAIN=1")
	return startProc(t, cmd, args[0]+" on "+h.Name)
}

// start runs narthex origin on the origin host, reaching PostgreSQL on
// that host's loopback, and an edge on each edge host, replicating over
// the backbone.
func (m *multihost) start(t *testing.T) {
	t.Helper()
	o := startOn(t, m.origin, "origin", "--listen", m.originBase[len("http://"):],
		"--database-url", pgURL(netip.MustParseAddr("127.0.0.1")), "--local-store", tempDir(t), "--maintain-interval", "0")
	o.waitLog(t, "origin listening", time.Minute)
	edge := func(h *netnstest.Host, name, base, dir string) *proc {
		return startOn(t, h, "edge", "--name", name, "--listen", base[len("http://"):], "--replica-dir", dir,
			"--database-url", pgURL(m.originPort.Addr), "--max-lag", multihostMaxLag.String())
	}
	m.edgeAProc = edge(m.edgeA, "edge_a", m.aBase, m.edgeADir)
	m.edgeBProc = edge(m.edgeB, "edge_b", m.bBase, m.edgeBDir)
	client := &http.Client{Timeout: 10 * time.Second}
	for _, base := range []string{m.aBase, m.bBase} {
		testutil.Eventually(t, base+" ready", time.Minute, func() bool { return readyzStatus(client, base) == http.StatusOK })
	}
}

// TestMultihost_PartitionAndOriginCrash runs an origin and two edges on
// hosts of their own, linked by a network, while paths are uploaded
// without pause: both edges converge; an edge cut off from the origin for
// 30 s keeps answering from its replica, says it is not ready, and
// catches up once the link returns; the origin's PostgreSQL, killed and
// started again, loses no acknowledged upload, and both edges end with
// replicas equal to the origin database.
func TestMultihost_PartitionAndOriginCrash(t *testing.T) {
	t.Parallel()
	m := newMultihost(t)
	pool, err := pgxpool.New(t.Context(), m.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	token, err := origin.CreateToken(t.Context(), pool, "multihost")
	pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	m.start(t)
	u := startUploader(t, m.originBase, token)

	// 1. Uploads reach both edges.
	client := &http.Client{Timeout: 10 * time.Second}
	u.waitAcked(t, 20, "at the start")
	all, _ := u.snapshot(time.Time{})
	for _, e := range []struct{ name, base string }{{"edge-a", m.aBase}, {"edge-b", m.bBase}} {
		took := waitAllServed(t, client, e.name, e.base, all, convergeWait)
		t.Logf("%s serves all %d paths acknowledged so far (waited %s)", e.name, len(all), took.Round(time.Millisecond))
	}

	m.partitionEdgeA(t, client, u)
	m.crashOriginPostgres(t, client, u)
}

// partitionEdgeA cuts edge-a's port on the backbone for multihostCut while
// uploads go on: edge-a answers from its replica what it had and nothing
// newer, is not ready, gives up its silent connection, and once the port
// is mended serves everything the origin holds.
func (m *multihost) partitionEdgeA(t *testing.T, client *http.Client, u *uploader) {
	had, _ := u.snapshot(time.Time{})
	waitAllServed(t, client, "edge-a before the cut", m.aBase, had, convergeWait)
	m.edgeAPort.Cut()
	// What was sent before the cut took hold may still have reached
	// edge-a; what is sent from here on cannot.
	cutAt := time.Now()
	testutil.Eventually(t, "edge-a not ready while cut off", multihostMaxLag+time.Minute, func() bool {
		return readyzStatus(client, m.aBase) == http.StatusServiceUnavailable
	})
	t.Logf("edge-a not ready %s into the cut (--max-lag %s)", time.Since(cutAt).Round(100*time.Millisecond), multihostMaxLag)
	u.waitAcked(t, 20, "during the cut")
	_, during := u.snapshot(cutAt)
	waitAllServed(t, client, "edge-b during edge-a's cut", m.bBase, during, convergeWait)
	checkCutOff := func(when string) {
		t.Helper()
		for _, h := range had {
			if code := narinfoStatus(client, m.aBase, h); code != http.StatusOK {
				t.Fatalf("%s: edge-a answers %d for %s, which its replica had", when, code, h)
			}
		}
		for _, h := range during {
			if code := narinfoStatus(client, m.aBase, h); code != http.StatusNotFound {
				t.Fatalf("%s: edge-a answers %d for %s, uploaded after its link was cut; want 404", when, code, h)
			}
		}
		if code := readyzStatus(client, m.aBase); code != http.StatusServiceUnavailable {
			t.Fatalf("%s: edge-a /readyz = %d, want 503", when, code)
		}
	}
	checkCutOff("during the cut")
	// The origin is silent, and edge-a gives its connection up rather
	// than wait on it: a new one gets through as soon as the link is back.
	for replicationConnected(client, m.aBase) != "0" {
		if time.Now().After(cutAt.Add(multihostCut)) {
			t.Fatalf("edge-a still streams from the origin at the end of a %s cut (its status reports unacknowledged since it began)",
				multihostCut)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("edge-a gave its silent connection up %s into the cut", time.Since(cutAt).Round(100*time.Millisecond))
	time.Sleep(time.Until(cutAt.Add(multihostCut)))
	checkCutOff("at the end of the cut")
	m.edgeAPort.Mend()
	mendAt := time.Now()
	all, _ := u.snapshot(time.Time{})
	took := waitAllServed(t, client, "edge-a after the link returned", m.aBase, all, convergeWait)
	t.Logf("edge-a serves all %d paths acknowledged by the end of its %s cut %s after the link returned",
		len(all), multihostCut, took.Round(100*time.Millisecond))
	testutil.Eventually(t, "edge-a ready after the link returned", convergeWait, func() bool {
		return readyzStatus(client, m.aBase) == http.StatusOK
	})
	t.Logf("edge-a ready %s after the link returned", time.Since(mendAt).Round(100*time.Millisecond))
	atOrigin := slices.Collect(maps.Keys(originNarinfos(t, m.dbURL)))
	waitAllServed(t, client, "edge-a, every narinfo of the origin", m.aBase, atOrigin, convergeWait)
}

// crashOriginPostgres kills the origin's PostgreSQL, as a crash would end
// it, and starts it again while uploads go on; then it stops the uploads
// and checks that every acknowledged upload is in the origin database and served by both
// edges, whose replicas, read once they have stopped, equal the origin
// database narinfo for narinfo, body for body.
func (m *multihost) crashOriginPostgres(t *testing.T, client *http.Client, u *uploader) {
	u.waitAcked(t, 20, "before the crash")
	ackedBefore, failedBefore := u.counts()
	if err := m.pg.Kill(); err != nil {
		t.Fatalf("kill origin postgresql: %v", err)
	}
	killedAt := time.Now()
	time.Sleep(2 * time.Second)
	if err := m.pg.Restart(t.Context()); err != nil {
		t.Fatalf("restart origin postgresql: %v", err)
	}
	down := time.Since(killedAt)
	ackedDown, _ := u.counts()
	u.waitAcked(t, 50, "after the restart")
	u.stop()
	acked, failed := u.counts()
	t.Logf("origin postgresql down %s: uploads acknowledged %d before the kill, %d until the restart was over, %d after; failed %d before, %d around the restart (the last: %s)",
		down.Round(100*time.Millisecond), ackedBefore, ackedDown-ackedBefore, acked-ackedDown, failedBefore, failed-failedBefore, u.lastFailure)
	if len(u.refused) > 0 {
		t.Fatalf("%d uploads refused, such as %s", len(u.refused), u.refused[0])
	}

	all, _ := u.snapshot(time.Time{})
	final := originNarinfos(t, m.dbURL)
	var lost []string
	for _, h := range all {
		if _, ok := final[h]; !ok {
			lost = append(lost, h)
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d acknowledged uploads are missing from the origin database, such as %s", len(lost), len(all), lost[0])
	}
	// An upload cut short by the end may have committed unacknowledged:
	// the edges are waited for on everything the origin holds.
	held := slices.Collect(maps.Keys(final))
	for _, e := range []struct{ name, base string }{{"edge-a", m.aBase}, {"edge-b", m.bBase}} {
		took := waitAllServed(t, client, e.name+" after the crash", e.base, held, convergeWait)
		t.Logf("%s serves all %d acknowledged paths, and all %d the origin holds, %s after the uploads stopped", e.name, len(all), len(held), took.Round(100*time.Millisecond))
	}

	for _, e := range []struct {
		name, edgeName, dir string
		p                   *proc
	}{{"edge-a", "edge_a", m.edgeADir, m.edgeAProc}, {"edge-b", "edge_b", m.edgeBDir, m.edgeBProc}} {
		e.p.stop(t)
		got := replicaNarinfos(t, e.edgeName, e.dir, m.dbURL)
		if diff := cmp.Diff(final, got); diff != "" {
			t.Errorf("%s's replica differs from the origin database (-origin +replica):\n%s", e.name, diff)
		}
	}
	t.Logf("both replicas equal the origin's %d narinfos (%d uploads acknowledged, %d failed)", len(final), acked, failed)
}

// replicaNarinfos reads every narinfo of the replica in dir, hash to body.
func replicaNarinfos(t *testing.T, edgeName, dir, dbURL string) map[string]string {
	t.Helper()
	r, err := replication.Open(replication.Config{ConnString: dbURL, EdgeName: edgeName, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := map[string]string{}
	if err := r.Replica().Narinfos(func(h string, b []byte) error { got[h] = string(b); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}
