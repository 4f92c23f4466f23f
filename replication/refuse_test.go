package replication

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/narthex-cache/narthex/config"
	"github.com/narthex-cache/narthex/internal/testutil"
)

// passwordGroup is a role whose members must log in with a password: the
// test cluster trusts everyone else.
const passwordGroup = "narthex_test_password"

var passwordOnce sync.Once

// role creates a login role for the test, with a password checked by the
// server, and with or without REPLICATION, and returns o.url as that role.
func (o *origin) role(password string, replication bool) string {
	o.t.Helper()
	passwordOnce.Do(func() {
		o.exec("CREATE ROLE " + passwordGroup + " NOLOGIN")
		var hba string
		if err := o.conn.QueryRow(context.Background(), "SHOW hba_file").Scan(&hba); err != nil {
			o.t.Fatal(err)
		}
		old, err := os.ReadFile(hba)
		if err != nil {
			o.t.Fatal(err)
		}
		line := "host all +" + passwordGroup + " 127.0.0.1/32 scram-sha-256\nhost replication +" + passwordGroup + " 127.0.0.1/32 scram-sha-256\n"
		if err := os.WriteFile(hba, append([]byte(line), old...), 0o600); err != nil {
			o.t.Fatal(err)
		}
		o.exec("SELECT pg_reload_conf()")
		// The server reloads in the background: wait until it asks a
		// member for a password.
		o.exec("CREATE ROLE " + passwordGroup + "_probe LOGIN PASSWORD 'right' IN ROLE " + passwordGroup)
		u, err := url.Parse(o.url)
		if err != nil {
			o.t.Fatal(err)
		}
		u.User = url.UserPassword(passwordGroup+"_probe", "wrong")
		testutil.Eventually(o.t, "password authentication", waitTimeout, func() bool {
			conn, err := pgx.Connect(context.Background(), u.String())
			if err == nil {
				conn.Close(context.Background())
			}
			var pgErr *pgconn.PgError
			return errors.As(err, &pgErr) && pgErr.Code == "28P01"
		})
	})
	name := "edge_" + strings.ToLower(testutil.RandomHash()[:12])
	attr := "NOREPLICATION"
	if replication {
		attr = "REPLICATION"
	}
	o.exec(fmt.Sprintf("CREATE ROLE %s LOGIN %s PASSWORD '%s' IN ROLE %s", name, attr, password, passwordGroup))
	o.t.Cleanup(func() {
		// The role goes once the test's database, which it may own
		// objects in, is dropped; a leftover role harms nothing.
		o.conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+name)
	})
	u, err := url.Parse(o.url)
	if err != nil {
		o.t.Fatal(err)
	}
	u.User = url.UserPassword(name, password)
	return u.String()
}

// An edge that holds no replica gives up at once when the origin refuses
// it for a reason retrying cannot heal.
func TestReplicator_RefusedWithoutReplicaGivesUp(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	withDatabase := func(u, db string) string {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		p.Path = "/" + db
		return p.String()
	}
	for _, tc := range []struct {
		name, url, sqlstate string
	}{
		{"missing database", withDatabase(o.url, "no_such_database"), "3D000"},
		{"wrong password", strings.Replace(o.role("right", true), ":right@", ":wrong@", 1), "28P01"},
		{"role without REPLICATION", o.role("pw", false), "42501"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startReplicator(t, Config{ConnString: tc.url, EdgeName: "e1", Dir: t.TempDir()})
			select {
			case <-r.Done():
			case <-time.After(waitTimeout):
				t.Fatalf("still retrying after %s", waitTimeout)
			}
			if err := r.Err(); err == nil || !strings.Contains(err.Error(), "SQLSTATE "+tc.sqlstate) {
				t.Fatalf("gave up with %v, want SQLSTATE %s", err, tc.sqlstate)
			}
		})
	}
}

// An edge that holds a replica goes on serving it when the origin refuses
// it, and goes on trying.
func TestReplicator_RefusedWithReplicaKeepsServing(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	hs := o.addNarinfos(2)
	dir := t.TempDir()
	r := startReplicator(t, Config{ConnString: o.url, EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "bootstrap", waitTimeout, func() bool { return r.Status().Bootstrapped })
	r.Close()

	r = startReplicator(t, Config{ConnString: o.role("pw", false), EdgeName: "e1", Dir: dir})
	testutil.Eventually(t, "several refused attempts", waitTimeout, func() bool { return r.Status().Reconnects >= 3 })
	select {
	case <-r.Done():
		t.Fatalf("gave up holding a replica: %v", r.Err())
	default:
	}
	for _, h := range hs {
		if !has(r, h) {
			t.Fatalf("replica not served while the origin refuses the edge")
		}
	}
}

// An origin that cannot be reached may come back: an edge keeps trying.
func TestReplicator_UnreachableKeepsRetrying(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	r := startReplicator(t, Config{ConnString: "postgres://edge@" + addr + "/narthex?sslmode=disable", EdgeName: "e1", Dir: t.TempDir()})
	testutil.Eventually(t, "several attempts", waitTimeout, func() bool { return r.Status().Reconnects >= 3 })
	select {
	case <-r.Done():
		t.Fatalf("gave up on an unreachable origin: %v", r.Err())
	default:
	}
}

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	good := Config{ConnString: "postgres://edge@h/db", EdgeName: "e1", Dir: "/r"}
	for _, tc := range []struct {
		field string
		edit  func(*Config)
	}{
		{"ConnString", func(c *Config) { c.ConnString = "" }},
		{"ConnString", func(c *Config) { c.ConnString = "postgres://h:notaport/db" }},
		{"EdgeName", func(c *Config) { c.EdgeName = "" }},
		{"EdgeName", func(c *Config) { c.EdgeName = "Upper" }},
		{"Dir", func(c *Config) { c.Dir = "" }},
		{"Publication", func(c *Config) { c.Publication = "a-b" }},
		{"MaxBackoff", func(c *Config) { c.MaxBackoff = -time.Second }},
	} {
		c := good
		tc.edit(&c)
		err := c.Validate()
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", c, err, tc.field)
		}
	}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate of a good config: %v", err)
	}
}
