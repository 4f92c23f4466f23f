package maintain

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// lockKey is the advisory lock maintenance runs under, "ntxmaint" in
// ASCII. Advisory locks belong to one database, so runners of different
// caches never meet.
const lockKey int64 = 0x6e74786d61696e74

// ErrLocked is matched by the error of a pass that found another runner
// at work.
var ErrLocked = errors.New("maintenance is already running")

// LockedError says which session holds the maintenance lock.
type LockedError struct {
	PID             int32     // the holder's PostgreSQL backend
	ApplicationName string    // what the holder calls itself
	ClientAddr      string    // where it connects from; empty for a local socket or when hidden
	Since           time.Time // when its session began
}

func (e *LockedError) Error() string {
	if e.PID == 0 {
		return ErrLocked.Error() + " (its holder let go just now; try again)"
	}
	s := fmt.Sprintf("%v: held by %q (PostgreSQL backend pid %d", ErrLocked, e.ApplicationName, e.PID)
	if e.ClientAddr != "" {
		s += " from " + e.ClientAddr
	}
	return s + ", connected since " + e.Since.UTC().Format(time.RFC3339) + ")"
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// lock takes the maintenance lock on a connection of its own, which
// holds it until closed, or returns a *LockedError naming the holder.
func (m *Maintainer) lock(ctx context.Context) (*pgx.Conn, error) {
	cc := m.db.Config().ConnConfig.Copy()
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["application_name"] = m.cfg.Name
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connect for the maintenance lock: %w", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockKey).Scan(&got); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("take the maintenance lock: %w", err)
	}
	if got {
		return conn, nil
	}
	defer conn.Close(context.Background())
	held := &LockedError{}
	err = conn.QueryRow(ctx, qLockHolder, lockKey).Scan(&held.PID, &held.ApplicationName, &held.ClientAddr, &held.Since)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("find the maintenance lock's holder: %w", err)
	}
	return nil, held
}
