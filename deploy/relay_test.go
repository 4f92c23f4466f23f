package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
)

const (
	relayHash = "ggbqg8lqjwj75wznkv03h0x2bjr2in0j"
	relayBody = "StorePath: /nix/store/ggbqg8lqjwj75wznkv03h0x2bjr2in0j-a\nURL: nar/1py0ql2r3fvf5h8h9xh2fdsxkizwb8p4wgfa848nlfiv612sv3vr.nar.xz\n"
	relayNAR  = "nar/1py0ql2r3fvf5h8h9xh2fdsxkizwb8p4wgfa848nlfiv612sv3vr.nar.xz"
	// relaySlot is the relay subscription's slot on the origin, named
	// like an edge's so that the origin's edge table can list it.
	relaySlot = "narthex_relay_eu_00000000"
)

// withUser returns the connection URL u as user.
func withUser(t *testing.T, u, user string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.User = url.User(user)
	return p.String()
}

// narthexCmd runs narthex with args and fails the test when it fails.
func narthexCmd(t *testing.T, bin string, args ...string) {
	t.Helper()
	if out, err := exec.CommandContext(t.Context(), bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("narthex %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func execAll(t *testing.T, conn *pgx.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := conn.Exec(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// publishedColumns lists the publication's tables and columns, with
// their types, on the database of conn.
func publishedColumns(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), `
		SELECT p.tablename || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
		FROM pg_publication_tables p
		CROSS JOIN LATERAL unnest(p.attnames) AS c(name)
		JOIN pg_attribute a ON a.attrelid = format('%I.%I', p.schemaname, p.tablename)::regclass AND a.attname = c.name
		WHERE p.pubname = 'narthex' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return cols
}

// httpGet answers method url's status, Location and body, without
// following redirects; 0 when the edge does not answer.
func httpGet(url string) (int, string, string) {
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestRelay_EdgeStreamsThroughRelay sets up a regional relay as
// deploy/README.md says (a second PostgreSQL with postgresql/narthex.conf,
// relay/relay.sql applied with psql, subscribing as a role of narthex
// edge-role create), points a real narthex edge at it, and checks that
// what the origin commits reaches the edge through the relay: a narinfo
// and its NAR file's location, then their deletion. The edge registers
// itself and sends its fetch counts to the relay. The relay publishes
// the very columns, of the very types, the origin publishes, and the
// origin's garbage collection waits for the relay's slot.
func TestRelay_EdgeStreamsThroughRelay(t *testing.T) {
	psql := testutil.Tool(t, "psql")
	bin := buildNarthex(t)
	originURL := pgtest.NewOriginDatabase(t)
	origin := pgtest.Connect(t, originURL)
	relayCluster := startCluster(t, confSettings(t, "postgresql/narthex.conf"))
	if err := relayCluster.CreateDatabase(t.Context(), "narthex"); err != nil {
		t.Fatal(err)
	}
	relayURL := relayCluster.ConnString("narthex")

	// The origin: a store holding a NAR file before the relay exists (the
	// relay's first copy brings it), and the relay's role and edge row.
	execAll(t, origin,
		`INSERT INTO store (name, kind, base_url) VALUES ('eu', 'local', 'http://origin.test')`,
		`INSERT INTO nar_file (url, file_hash, file_size, compression) VALUES ('`+relayNAR+`', 'sha256:x', 1, 'xz')`,
		`INSERT INTO payload_location (url, store_id, key) SELECT '`+relayNAR+`', id, '`+relayNAR+`' FROM store`)
	narthexCmd(t, bin, "edge-role", "create", "relay_eu", "--database-url", originURL)
	execAll(t, origin, `INSERT INTO edge (name, slot_name, region) VALUES ('relay_eu', '`+relaySlot+`', 'eu')`)

	// The relay: schema, publication and subscription, as the guide says.
	cmd := exec.CommandContext(t.Context(), psql, "-X", "-q", "-v", "ON_ERROR_STOP=1",
		"-v", "origin="+withUser(t, originURL, "relay_eu"), "-v", "slot="+relaySlot,
		"-d", relayURL, "-f", "relay/relay.sql")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql -f relay/relay.sql: %v\n%s", err, out)
	}
	relay := pgtest.Connect(t, relayURL)
	t.Cleanup(func() {
		// Dropping the subscription drops its slot on the origin.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := relay.Exec(ctx, "DROP SUBSCRIPTION narthex"); err != nil {
			t.Errorf("drop subscription: %v", err)
		}
	})
	// Edges are pointed at the relay once its first copy is done: every
	// table ready.
	testutil.Eventually(t, "the relay's first copy", 2*time.Minute, func() bool {
		var pending int
		err := relay.QueryRow(t.Context(), "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'").Scan(&pending)
		return err == nil && pending == 0
	})
	if got, want := publishedColumns(t, relay), publishedColumns(t, origin); !slices.Equal(got, want) {
		t.Errorf("relay publishes\n  %s\nthe origin\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	narthexCmd(t, bin, "edge-role", "create", "edge_fra", "--database-url", relayURL)

	// The edge, with nothing but the relay's connection string.
	addr := freeAddr(t)
	var logs bytes.Buffer
	edge := exec.Command(bin, "edge", "--name", "fra1", "--listen", addr, "--http-engine", "fasthttp",
		"--database-url", withUser(t, relayURL, "edge_fra"), "--replica-dir", filepath.Join(t.TempDir(), "replica"),
		"--analytics-interval", "1s", "--heartbeat-interval", "1s",
		"--region", "eu-central", "--latitude", "50.11", "--longitude", "8.68", "--public-address", "192.0.2.10")
	edge.Stdout, edge.Stderr = &logs, &logs
	if err := edge.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		edge.Process.Signal(syscall.SIGTERM)
		edge.Wait()
		if t.Failed() {
			t.Logf("edge log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	testutil.Eventually(t, "edge ready", 2*time.Minute, func() bool {
		code, _, _ := httpGet(base + "/readyz")
		return code == 200
	})
	if code, _, _ := httpGet(base + "/" + relayHash + ".narinfo"); code != 404 {
		t.Fatalf("narinfo before its upload = %d, want 404", code)
	}

	// A narinfo committed at the origin appears at the edge.
	execAll(t, origin, `INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ('`+relayHash+`', 'a', 'sha256:x', 1, '`+relayBody+`')`)
	testutil.Eventually(t, "narinfo at the edge", 2*time.Minute, func() bool {
		code, _, body := httpGet(base + "/" + relayHash + ".narinfo")
		return code == 200 && body == relayBody
	})
	code, loc, _ := httpGet(base + "/" + relayNAR)
	if code != 302 || !strings.HasPrefix(loc, "http://origin.test/") {
		t.Errorf("GET /%s = %d to %q, want 302 to the store http://origin.test", relayNAR, code, loc)
	}

	// The edge registered itself, and sends its fetch counts, to the relay.
	var slot string
	if err := relay.QueryRow(t.Context(), "SELECT slot_name FROM edge WHERE name = 'fra1'").Scan(&slot); err != nil {
		t.Errorf("the edge is not registered at the relay: %v", err)
	}
	testutil.Eventually(t, "the edge's heartbeat at the relay", 2*time.Minute, func() bool {
		var ready bool
		err := relay.QueryRow(t.Context(), "SELECT coalesce(ready, false) FROM edge WHERE name = 'fra1' AND region = 'eu-central'").Scan(&ready)
		return err == nil && ready
	})
	// The relay's registry reads as the origin's does.
	list, err := exec.CommandContext(t.Context(), bin, "edges", "list", "--json", "--database-url", relayURL).CombinedOutput()
	if err != nil || !strings.Contains(string(list), `"fra1"`) {
		t.Errorf("narthex edges list at the relay: %v\n%s", err, list)
	}
	testutil.Eventually(t, "fetch counts at the relay", 2*time.Minute, func() bool {
		var n int
		err := relay.QueryRow(t.Context(), "SELECT count(*) FROM fetch_count WHERE edge = 'fra1' AND kind = 'hit'").Scan(&n)
		return err == nil && n > 0
	})

	// Deletes reach the edge through the relay too.
	execAll(t, origin,
		`DELETE FROM payload_location WHERE url = '`+relayNAR+`'`,
		`DELETE FROM narinfo WHERE hash = '`+relayHash+`'`)
	testutil.Eventually(t, "deletion at the edge", 2*time.Minute, func() bool {
		c1, _, _ := httpGet(base + "/" + relayHash + ".narinfo")
		c2, _, _ := httpGet(base + "/" + relayNAR)
		return c1 == 404 && c2 == 404
	})

	// Garbage collection's payload fence at the origin waits for the
	// relay, registered as the edge relay_eu, and knows nothing of the
	// edge behind it.
	out, err := exec.CommandContext(t.Context(), bin, "gc", "--dry-run", "--json",
		"--database-url", originURL, "--local-store", t.TempDir()).Output()
	if err != nil {
		t.Fatalf("narthex gc --dry-run: %v", err)
	}
	var report struct {
		Edges []struct {
			Name, State string
			Holds       bool
		}
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("narthex gc --dry-run --json: %v\n%s", err, out)
	}
	if len(report.Edges) != 1 || report.Edges[0].Name != "relay_eu" || report.Edges[0].State != "streaming" || !report.Edges[0].Holds {
		t.Errorf("gc's fence: %+v, want relay_eu alone, streaming and holding it", report.Edges)
	}
}
