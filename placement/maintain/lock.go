package maintain

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/narthex-cache/narthex/pglock"
)

// lockKey is the advisory lock maintenance runs under, "ntxmaint" in
// ASCII. Advisory locks belong to one database, so runners of different
// caches never meet.
const lockKey int64 = 0x6e74786d61696e74

// ErrLocked is matched by the error of a pass that found another runner
// at work.
var ErrLocked = errors.New("maintenance is already running")

// LockedError says which session holds the maintenance lock.
type LockedError = pglock.LockedError

// lock takes the maintenance lock on a connection of its own, which
// holds it until closed, or returns a *LockedError naming the holder.
func (m *Maintainer) lock(ctx context.Context) (*pgx.Conn, error) {
	return pglock.TryLock(ctx, m.db.Config().ConnConfig, lockKey, m.cfg.Name, ErrLocked)
}
