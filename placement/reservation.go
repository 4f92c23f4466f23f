package placement

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
	return reserve(ctx, db, store, size, maxSize, holder, nil)
}

// ErrClaimed is the error of ReserveURL when a live reservation claims
// the URL already.
var ErrClaimed = errors.New("another write of the file is in flight")

// ReserveURL is Reserve for the write of a file whose URL does not name
// its bytes: the reservation also claims url, so that no other write of
// url is in flight anywhere until it is released (ErrClaimed). maxSize nil
// is a store without a limit, where only the claim counts.
func ReserveURL(ctx context.Context, db DB, store int32, size int64, maxSize *int64, holder, url string) (id int64, ok bool, err error) {
	if _, err := db.Exec(ctx, qDropLapsedClaim, url, ReservationLapse); err != nil {
		return 0, false, fmt.Errorf("drop lapsed claim: %w", err)
	}
	limit := int64(math.MaxInt64)
	if maxSize != nil {
		limit = *maxSize
	}
	id, ok, err = reserve(ctx, db, store, size, limit, holder, &url)
	if pgErr, is := errors.AsType[*pgconn.PgError](err); is && pgErr.Code == sqlstateUniqueViolation {
		return 0, false, ErrClaimed
	}
	return id, ok, err
}

// sqlstateUniqueViolation is the SQLSTATE of an insert that a unique
// index refuses.
const sqlstateUniqueViolation = "23505"

func reserve(ctx context.Context, db DB, store int32, size, maxSize int64, holder string, url *string) (id int64, ok bool, err error) {
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var used int64
		if err := tx.QueryRow(ctx, qLockStoreUsage, store).Scan(&used); err != nil {
			return fmt.Errorf("lock store usage: %w", err)
		}
		err := tx.QueryRow(ctx, qReserveSpace, store, size, holder, maxSize, used, ReservationLapse, url).Scan(&id)
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
