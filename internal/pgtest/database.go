package pgtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/narthex-cache/narthex/pgcluster"
)

// dropTimeout bounds dropping a test's database, slots included.
const dropTimeout = 30 * time.Second

// dbSeq makes database names unique within the test binary, and so within
// its cluster.
var dbSeq atomic.Int64

// NewDatabase creates an empty database for this test and returns its
// connection string. The database is named after the test; it is dropped when
// the test ends, after the replication slots on it are dropped and the
// connections holding them are ended.
func NewDatabase(t testing.TB) string {
	t.Helper()
	c := sharedCluster(t)
	name := dbName(t.Name(), dbSeq.Add(1))
	if err := c.CreateDatabase(t.Context(), name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ensureRunning(t, c)
		ctx, cancel := context.WithTimeout(context.Background(), dropTimeout)
		defer cancel()
		if err := dropDatabase(ctx, c, name); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return c.ConnString(name)
}

// dbName returns a database name from the test's name: lower case, other
// characters than letters and digits as '_', cut to fit PostgreSQL's 63-byte
// identifiers together with the sequence number.
func dbName(testName string, seq int64) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		if b.Len() == 40 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String() + "_" + strconv.FormatInt(seq, 10)
}

func dropDatabase(ctx context.Context, c *pgcluster.Cluster, name string) error {
	conn, err := pgx.Connect(ctx, c.ConnString("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if err := dropSlots(ctx, conn, name); err != nil {
		return err
	}
	// FORCE ends the remaining connections; it cannot drop slots.
	_, err = conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

const (
	// terminateSlotHoldersSQL ends the backends using a slot on database
	// $1, waiting up to 5 s for each to exit; a backend releases its slot
	// as it exits.
	terminateSlotHoldersSQL = `
		SELECT count(pg_terminate_backend(active_pid, 5000))
		FROM pg_replication_slots
		WHERE database = $1 AND active_pid IS NOT NULL`
	// dropFreeSlotsSQL drops the slots on database $1 that no backend uses.
	dropFreeSlotsSQL = `
		SELECT count(pg_drop_replication_slot(slot_name))
		FROM pg_replication_slots
		WHERE database = $1 AND NOT active`
	countSlotsSQL = `SELECT count(*) FROM pg_replication_slots WHERE database = $1`
)

// dropSlots drops every replication slot on database name. A client that
// takes a slot again between terminate and drop (a consumer that reconnects)
// gets another round, until ctx ends.
func dropSlots(ctx context.Context, conn *pgx.Conn, name string) error {
	for {
		var n int
		if err := conn.QueryRow(ctx, terminateSlotHoldersSQL, name).Scan(&n); err != nil {
			return fmt.Errorf("end slot holders: %w", err)
		}
		if err := conn.QueryRow(ctx, dropFreeSlotsSQL, name).Scan(&n); err != nil && !slotRace(err) {
			return fmt.Errorf("drop slots: %w", err)
		}
		if err := conn.QueryRow(ctx, countSlotsSQL, name).Scan(&n); err != nil {
			return fmt.Errorf("count slots: %w", err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d replication slots still in use: %w", n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// slotRace reports whether err comes from a slot that a client took, or
// dropped, between listing and dropping it.
func slotRace(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) &&
		(pgErr.Code == sqlstateObjectInUse || pgErr.Code == sqlstateUndefinedObject)
}

const (
	sqlstateObjectInUse     = "55006" // the slot is active
	sqlstateUndefinedObject = "42704" // the slot is gone
)
