package replication

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrSlotLost means the replica's slot can no longer stream: it was dropped,
// invalidated, or the WAL it needs is gone. The replica must be bootstrapped
// anew under a new slot.
var ErrSlotLost = errors.New("replication slot lost")

var validEdgeName = regexp.MustCompile(`^[a-z0-9_]{1,40}$`)

// slotPattern matches every slot that belongs to the edge, whatever its
// generation. The generation suffix has no underscore, so edge "a" never
// matches the slots of edge "a_b".
func slotPattern(edge string) string { return "^narthex_" + edge + "_[0-9a-z]{8}$" }

// newSlotName names a fresh slot for the edge. Every bootstrap gets its own
// slot, so a replica can never follow a slot created after its snapshot.
func newSlotName(edge string) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	var b [8]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "narthex_" + edge + "_" + string(b[:])
}

// slotUsable reports whether slot exists in the connection's database and
// still has the WAL it needs. conn is a replication connection, which takes
// only the simple query protocol; slot names are checked to need no quoting.
func slotUsable(ctx context.Context, conn *pgconn.PgConn, slot string) (bool, error) {
	res, err := conn.Exec(ctx, "SELECT coalesce(wal_status, '') FROM pg_replication_slots WHERE slot_name = '"+slot+"' AND database = current_database()").ReadAll()
	if err != nil {
		return false, fmt.Errorf("look up slot: %w", err)
	}
	if len(res) == 0 || len(res[0].Rows) == 0 {
		return false, nil
	}
	return string(res[0].Rows[0][0]) != "lost", nil
}

// dropStaleSlots drops the edge's slots other than keep. A slot still held
// by a walsender (a previous process of this edge whose connection the
// server has not yet noticed is gone) has that walsender ended first.
func dropStaleSlots(ctx context.Context, conn *pgconn.PgConn, edge, keep string) error {
	q := fmt.Sprintf(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
		WHERE slot_name ~ '%s' AND slot_name <> '%s' AND active_pid IS NOT NULL;
		SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
		WHERE slot_name ~ '%s' AND slot_name <> '%s' AND NOT active`,
		slotPattern(edge), keep, slotPattern(edge), keep)
	if _, err := conn.Exec(ctx, q).ReadAll(); err != nil {
		return fmt.Errorf("drop stale slots: %w", err)
	}
	return nil
}

// isSlotLost reports whether err from START_REPLICATION or the stream means
// the slot cannot be used again.
func isSlotLost(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "42704": // undefined_object: the slot does not exist
		return true
	case "55000": // object_not_in_prerequisite_state: the slot was invalidated
		return true
	case "58P01": // undefined_file: the WAL the slot needs was removed
		return true
	}
	return false
}
