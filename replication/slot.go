package replication

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pglogrepl"
	"github.com/narthex-cache/narthex/sql"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrSlotLost means the replica's slot can no longer stream: it was dropped,
// invalidated, or the WAL it needs is gone. The replica must be bootstrapped
// anew under a new slot.
var ErrSlotLost = errors.New("replication slot lost")

var validPublication = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// newSlotName names a fresh slot for the edge. Every bootstrap gets its own
// slot, so a replica can never follow a slot created after its snapshot.
func newSlotName(edge string) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	var b [sql.SlotGenerationLen]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return sql.SlotName(edge, string(b[:]))
}

// slotUsable reports whether slot exists in the connection's database, still
// has the WAL it needs, and has confirmed nothing beyond applied. The replica
// stores every LSN before acknowledging it, so a slot ahead of the replica
// means the replica was rolled back (restored from an older copy): resuming
// would skip the transactions in between. conn is a replication connection,
// which takes only the simple query protocol; slot names are generated and
// need no quoting.
func slotUsable(ctx context.Context, conn *pgconn.PgConn, slot string, applied pglogrepl.LSN) (bool, error) {
	res, err := conn.Exec(ctx, "SELECT coalesce(wal_status, ''), coalesce(confirmed_flush_lsn, '0/0') FROM pg_replication_slots"+
		" WHERE slot_name = '"+slot+"' AND database = current_database()").ReadAll()
	if err != nil {
		return false, fmt.Errorf("look up slot: %w", err)
	}
	if len(res) == 0 || len(res[0].Rows) == 0 {
		return false, nil
	}
	row := res[0].Rows[0]
	confirmed, err := pglogrepl.ParseLSN(string(row[1]))
	if err != nil {
		return false, fmt.Errorf("slot confirmed_flush_lsn: %w", err)
	}
	return string(row[0]) != "lost" && confirmed <= applied, nil
}

// dropStaleSlots drops the edge's slots in this database other than keep:
// slots of replicas that were replaced, or whose bootstrap failed. A slot
// still held by a walsender (a previous process of this edge whose connection
// the server has not yet noticed is gone) has that walsender ended first.
func dropStaleSlots(ctx context.Context, conn *pgconn.PgConn, edge, keep string) error {
	where := fmt.Sprintf("slot_name ~ '%s' AND slot_name <> '%s' AND database = current_database()", sql.SlotPattern(edge), keep)
	q := "SELECT pg_terminate_backend(active_pid, 5000) FROM pg_replication_slots WHERE " + where + " AND active_pid IS NOT NULL;" +
		"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE " + where + " AND NOT active"
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

// takeOver ends any walsender still holding slot: the slot is this edge's
// alone, so a holder is a connection of this edge that died without the
// server noticing yet, which would otherwise keep the slot busy until
// wal_sender_timeout.
func takeOver(ctx context.Context, conn *pgconn.PgConn, slot string) (bool, error) {
	res, err := conn.Exec(ctx, "SELECT pg_terminate_backend(active_pid, 5000) FROM pg_replication_slots"+
		" WHERE slot_name = '"+slot+"' AND database = current_database() AND active_pid IS NOT NULL").ReadAll()
	if err != nil {
		return false, fmt.Errorf("take over slot: %w", err)
	}
	return len(res) > 0 && len(res[0].Rows) > 0, nil
}
