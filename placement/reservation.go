package placement

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Room in a store with a max_size is reserved before a byte of a new
// object is written to it, by uploads and by maintenance alike, so that
// writes in flight together never take the store past its limit. A
// reservation belongs to a holder, a running process, which renews its
// reservations every ReservationRenewal while it runs; it is released when
// its object is recorded (in the recording statement itself) or given up.
// One left by a process that died stops counting once it has gone
// ReservationLapse unrenewed.
const (
	// ReservationRenewal is long enough to cost nothing, and
	// ReservationLapse long enough to ride out a slow database, short
	// enough that the room of writes a crash cut off soon comes back.
	ReservationRenewal = 30 * time.Second
	ReservationLapse   = 2 * time.Minute
)

// NewHolder names a process's reservations: what, and a random part, so
// that two processes of one kind never share reservations.
func NewHolder(what string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return what + "-" + hex.EncodeToString(b)
}

// Reserve reserves size bytes of store for holder when they fit under
// maxSize beside what the store holds and what live reservations hold, and
// returns the reservation's id; ok is false when they do not fit.
func Reserve(ctx context.Context, db DB, store int32, size, maxSize int64, holder string) (id int64, ok bool, err error) {
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var used int64
		if err := tx.QueryRow(ctx, qLockStoreUsage, store).Scan(&used); err != nil {
			return fmt.Errorf("lock store usage: %w", err)
		}
		err := tx.QueryRow(ctx, qReserveSpace, store, size, holder, maxSize, used, ReservationLapse).Scan(&id)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("reserve room: %w", err)
		}
		ok = true
		return nil
	})
	return id, ok, err
}

// Release gives back reservation id, of a write that will not be recorded.
func Release(ctx context.Context, db DB, id int64) error {
	if _, err := db.Exec(ctx, qReleaseReservation, id); err != nil {
		return fmt.Errorf("release reservation: %w", err)
	}
	return nil
}

// RenewReservations renews every reservation of holder until ctx ends,
// calling failed with each error.
func RenewReservations(ctx context.Context, db DB, holder string, failed func(error)) {
	t := time.NewTicker(ReservationRenewal)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := db.Exec(ctx, qRenewReservations, holder); err != nil && ctx.Err() == nil {
			failed(fmt.Errorf("renew reservations: %w", err))
		}
	}
}
