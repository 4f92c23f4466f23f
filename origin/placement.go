package origin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/narthex-cache/narthex/placement"
)

// uploadTarget is a store an upload lands in, with the room reserved for
// it there.
type uploadTarget struct {
	id          int32
	name        string
	store       PayloadStore
	reservation *int64 // nil when the store has no max_size and the upload claims no URL
}

// storeRow is a row of upload_stores.sql.
type storeRow struct {
	ID       int32
	Name     string
	Kind     string
	BaseURL  string
	Settings string
	MaxSize  *int64
}

// openedStores keeps the stores other than the local one that uploads
// have landed in, opened once for each version of their settings.
type openedStores struct {
	mu sync.Mutex
	m  map[int32]openedStore
}

type openedStore struct {
	row   storeRow
	store PayloadStore // nil when it cannot be opened
}

// placeUpload chooses the store an upload of size bytes (-1 when unknown:
// then the largest NAR accepted) lands in: the first of upload_stores.sql's
// order that this origin can write to and that has room under its
// max_size, counting what it holds and the room other uploads in flight
// reserved. Room is reserved before a byte is written, so that parallel
// uploads never take a store past max_size. When no store has room, the
// answer is 507 naming the stores and their limits. An upload that claims
// a URL (claim not "") always holds a reservation, which claims it, and is
// answered 409 while another upload of the URL is in flight.
func (s *Server) placeUpload(ctx context.Context, size int64, claim string) (uploadTarget, error) {
	if size < 0 {
		size = s.cfg.MaxNarSize
	}
	rows, err := s.db.Query(ctx, qUploadStores)
	if err != nil {
		return uploadTarget{}, fmt.Errorf("read upload stores: %w", err)
	}
	cands, err := pgx.CollectRows(rows, pgx.RowToStructByPos[storeRow])
	if err != nil {
		return uploadTarget{}, fmt.Errorf("read upload stores: %w", err)
	}
	var full []string
	for _, c := range cands {
		st := s.writable(ctx, c)
		if st == nil {
			continue
		}
		t := uploadTarget{id: c.ID, name: c.Name, store: st}
		if c.MaxSize == nil && claim == "" {
			return t, nil
		}
		id, err := s.reserve(ctx, c.ID, size, c.MaxSize, claim)
		if errors.Is(err, placement.ErrClaimed) {
			return uploadTarget{}, clientError(http.StatusConflict,
				"another upload of %s is in flight; try again once it is done", claim)
		}
		if err != nil {
			return uploadTarget{}, err
		}
		if id == nil {
			full = append(full, fmt.Sprintf("%s (max_size %d)", c.Name, *c.MaxSize))
			continue
		}
		t.reservation = id
		return t, nil
	}
	s.metrics.noRoom.Inc()
	if len(full) == 0 {
		return uploadTarget{}, clientError(http.StatusInsufficientStorage,
			"no store takes uploads: every store is read-only, write-only, draining or out of reach of this origin")
	}
	return uploadTarget{}, clientError(http.StatusInsufficientStorage,
		"no store has room for %d bytes: %s", size, strings.Join(full, ", "))
}

// writable returns the store of row c for an upload, or nil when this
// origin cannot write to it (logged once for each version of its row).
func (s *Server) writable(ctx context.Context, c storeRow) PayloadStore {
	if c.ID == s.storeID {
		return s.payloads
	}
	if s.cfg.OpenStore == nil {
		return nil
	}
	s.opened.mu.Lock()
	defer s.opened.mu.Unlock()
	if o, ok := s.opened.m[c.ID]; ok && o.row == c {
		return o.store
	}
	st, err := s.cfg.OpenStore(ctx, c.Kind, []byte(c.Settings), c.BaseURL)
	if err != nil {
		s.log.Warn("uploads pass over a store this origin cannot open", "store", c.Name, "err", err)
		st = nil
	}
	if s.opened.m == nil {
		s.opened.m = map[int32]openedStore{}
	}
	s.opened.m[c.ID] = openedStore{row: c, store: st}
	return st
}

// reserve reserves size bytes of store id under maxSize (nil: no limit)
// and returns the reservation's id, or nil when they do not fit. A
// reservation with a claim claims that URL too.
func (s *Server) reserve(ctx context.Context, id int32, size int64, maxSize *int64, claim string) (*int64, error) {
	var rid int64
	var ok bool
	var err error
	if claim != "" {
		rid, ok, err = placement.ReserveURL(ctx, s.db, id, size, maxSize, s.holder, claim)
	} else {
		rid, ok, err = placement.Reserve(ctx, s.db, id, size, *maxSize, s.holder)
	}
	if err != nil || !ok {
		return nil, err
	}
	return &rid, nil
}

// release gives back the room of an upload that was not recorded.
func (s *Server) release(t uploadTarget) {
	if t.reservation == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if err := placement.Release(ctx, s.db, *t.reservation); err != nil {
		s.log.Warn("could not release the room of a failed upload; it lapses unrenewed",
			"store", t.name, "lapse", placement.ReservationLapse, "err", err)
	}
}

// renewLoop renews this process's reservations until ctx ends.
func (s *Server) renewLoop(ctx context.Context) {
	placement.RenewReservations(ctx, s.db, s.holder, func(err error) {
		s.log.Warn("could not renew the room of uploads in flight", "err", err)
	})
}
