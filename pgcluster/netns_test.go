package pgcluster

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/narthex-cache/narthex/internal/netnstest"
)

// TestStart_Netns starts a server in a network namespace linked to the
// test's: it answers at its address on the link and through ConnString's
// unix socket, and not on this namespace's loopback.
func TestStart_Netns(t *testing.T) {
	dir := clusterDir(t)
	n := netnstest.New(t)
	host := n.AddHost("pg")
	link := n.Connect(n.Self(), host)
	hbaDir, err := os.MkdirTemp("", "pgcluster-hba-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(hbaDir) })
	os.Chmod(hbaDir, 0o755)
	hba := filepath.Join(hbaDir, "pg_hba.conf")
	rules := fmt.Sprintf("local all all trust\nhost all all %s/32 trust\n", link.AddrA)
	if err := os.WriteFile(hba, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	// A port free here, so that a server wrongly started here would take it.
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}

	c := startCluster(t, Config{Dir: dir, Port: port, Netns: host.NS, Settings: map[string]string{"hba_file": hba}})
	if got := query(t, c.ConnString("postgres"), "SHOW listen_addresses"); got != "*" {
		t.Errorf("listen_addresses = %q, want *", got)
	}
	remote := fmt.Sprintf("postgres://postgres@%s:%d/postgres?sslmode=disable", link.AddrB, port)
	if got := query(t, remote, "SELECT host(inet_server_addr())"); got != link.AddrB.String() {
		t.Errorf("server address over the link = %q, want %s", got, link.AddrB)
	}
	if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		conn.Close()
		t.Errorf("127.0.0.1:%d answers in the test's namespace", port)
	}
	if !strings.Contains(c.ConnString("x"), "host="+url.QueryEscape(c.socketDir)) {
		t.Errorf("ConnString = %s, want the unix socket in %s", c.ConnString("x"), c.socketDir)
	}
}
