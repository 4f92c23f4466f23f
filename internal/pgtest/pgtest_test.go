package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/narthex-cache/narthex/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func connect(t *testing.T, connString string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), connString)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestNewDatabase_Independent(t *testing.T) {
	a, b := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if a == b {
		t.Fatalf("both databases are %s", a)
	}
	connA, connB := connect(t, a), connect(t, b)
	if _, err := connA.Exec(t.Context(), "CREATE TABLE kv (k text); INSERT INTO kv VALUES ('a')"); err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := connB.QueryRow(t.Context(), "SELECT to_regclass('kv') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Error("a table created in one database is visible in the other")
	}
}

// TestNewDatabase_DropsSlots leaves a database with one slot held by a
// streaming client and one idle slot, and checks that cleanup drops both
// and the database.
func TestNewDatabase_DropsSlots(t *testing.T) {
	conn := connect(t, pgtest.Cluster(t).ConnString("postgres"))
	var name string
	var holder *pgconn.PgConn
	t.Run("leave slots", func(t *testing.T) {
		connString := pgtest.NewDatabase(t)
		cfg, err := pgx.ParseConfig(connString)
		if err != nil {
			t.Fatal(err)
		}
		name = cfg.Database
		db := connect(t, connString)
		for _, sql := range []string{
			"CREATE PUBLICATION everything FOR ALL TABLES",
			"SELECT pg_create_logical_replication_slot('held', 'pgoutput')",
			"SELECT pg_create_logical_replication_slot('idle', 'pgoutput')",
		} {
			if _, err := db.Exec(t.Context(), sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
		holder, err = pgconn.Connect(t.Context(), connString+"&replication=database")
		if err != nil {
			t.Fatal(err)
		}
		err = pglogrepl.StartReplication(t.Context(), holder, "held", 0, pglogrepl.StartReplicationOptions{
			PluginArgs: []string{"proto_version '1'", "publication_names 'everything'"},
		})
		if err != nil {
			t.Fatal(err)
		}
		var active bool
		if err := conn.QueryRow(t.Context(), "SELECT active FROM pg_replication_slots WHERE slot_name = 'held'").Scan(&active); err != nil || !active {
			t.Fatalf("slot held: active = %v, %v; want an active slot", active, err)
		}
	})
	if holder != nil {
		defer holder.Close(context.Background())
	}
	if name == "" {
		t.Fatal("no database was created")
	}

	var slots, dbs int
	err := conn.QueryRow(t.Context(), `
		SELECT (SELECT count(*) FROM pg_replication_slots WHERE database = $1),
		       (SELECT count(*) FROM pg_database WHERE datname = $1)`, name).Scan(&slots, &dbs)
	if err != nil {
		t.Fatal(err)
	}
	if slots != 0 || dbs != 0 {
		t.Errorf("after cleanup: %d slots, %d databases named %s; want none", slots, dbs, name)
	}
}

// TestCluster_LeftStopped stops the shared cluster and leaves it stopped;
// cleanup must start it again for the tests that follow.
func TestCluster_LeftStopped(t *testing.T) {
	t.Run("stop", func(t *testing.T) {
		if err := pgtest.Cluster(t).Stop(); err != nil {
			t.Fatal(err)
		}
	})
	var one int
	if err := connect(t, pgtest.NewDatabase(t)).QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("after a test left the cluster stopped: %v", err)
	}
}
