// Package pglock runs one worker at a time across processes and hosts
// under a PostgreSQL session advisory lock, and names the holder when the
// lock is taken: which backend, application and address hold it, and
// since when. A lock is held by a connection of its own, so that it lasts
// exactly as long as the session does: a worker that dies, or whose host
// does, lets go when PostgreSQL notices the session is gone.
//
//	conn, err := pglock.TryLock(ctx, pool.Config().ConnConfig, key, "narthex gc on host1", ErrRunning)
//	var held *pglock.LockedError
//	if errors.As(err, &held) {
//		// another worker is at work; held says which
//	}
//	defer pglock.Unlock(conn, key)
package pglock

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/narthex-cache/narthex/sql"
)

//go:embed queries/*.sql
var queryFiles embed.FS

var qLockHolder = sql.Query(queryFiles, "lock_holder")

// LockedError says which session holds a lock another worker wanted.
type LockedError struct {
	// Err is what the lock stands for, such as "maintenance is already
	// running"; errors.Is matches it.
	Err             error
	PID             int32     // the holder's PostgreSQL backend
	ApplicationName string    // what the holder calls itself
	ClientAddr      string    // where it connects from; empty for a local socket or when hidden
	Since           time.Time // when its session began
}

func (e *LockedError) Error() string {
	if e.PID == 0 {
		return e.Err.Error() + " (its holder let go just now; try again)"
	}
	s := fmt.Sprintf("%v: held by %q (PostgreSQL backend pid %d", e.Err, e.ApplicationName, e.PID)
	if e.ClientAddr != "" {
		s += " from " + e.ClientAddr
	}
	return s + ", connected since " + e.Since.UTC().Format(time.RFC3339) + ")"
}

func (e *LockedError) Unwrap() error { return e.Err }

// Unlock lets go of lock key held by conn and closes conn. Closing alone
// would let go too, but only once the server has noticed, which a worker
// starting again at once might not wait for.
func Unlock(conn *pgx.Conn, key int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key)
	conn.Close(ctx)
}

// TryLock takes advisory lock key on a new connection configured by cc,
// which shows itself to PostgreSQL as name, and returns that connection:
// the lock is held until it is closed. When another session holds the
// lock it returns a *LockedError wrapping locked and naming the holder.
func TryLock(ctx context.Context, cc *pgx.ConnConfig, key int64, name string, locked error) (*pgx.Conn, error) {
	cc = cc.Copy()
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["application_name"] = name
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connect for the lock: %w", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("take the lock: %w", err)
	}
	if got {
		return conn, nil
	}
	defer conn.Close(context.Background())
	held := &LockedError{Err: locked}
	err = conn.QueryRow(ctx, qLockHolder, key).Scan(&held.PID, &held.ApplicationName, &held.ClientAddr, &held.Since)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("find the lock's holder: %w", err)
	}
	return nil, held
}
