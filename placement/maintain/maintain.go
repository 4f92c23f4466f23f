package maintain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/pglock"
	"github.com/narthex-cache/narthex/placement"
)

// ErrUnknownStore is matched by the error of a pass asked to work on a
// store that does not exist.
var ErrUnknownStore = errors.New("unknown store")

// Maintainer runs maintenance passes over the stores of one database.
type Maintainer struct {
	cfg Config
	db  *pgxpool.Pool
	log *slog.Logger
}

// New returns a Maintainer for cfg.
func New(cfg Config) (*Maintainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Maintainer{cfg: cfg, db: cfg.DB, log: cfg.Logger.With("component", "maintain")}, nil
}

// Summary is what a pass did, job by job in the order they ran.
type Summary struct {
	Jobs []JobSummary
}

// RunOnce runs one pass over every store, or over the store named
// onlyStore (the stores it copies from or into may be any): verification,
// population, drains, evictions and the sweep, in that order, so that
// copies choose among locations just verified and room freed by drains
// and evictions is counted before the sweep. It returns an error matching
// ErrLocked, and does nothing, when another runner is at work, and one
// matching ErrUnknownStore, before taking the lock, when onlyStore names
// no store.
func (m *Maintainer) RunOnce(ctx context.Context, onlyStore string) (Summary, error) {
	if onlyStore != "" {
		var ok bool
		if err := m.db.QueryRow(ctx, qStoreExists, onlyStore).Scan(&ok); err != nil {
			return Summary{}, fmt.Errorf("find store %q: %w", onlyStore, err)
		}
		if !ok {
			return Summary{}, fmt.Errorf("%w %q", ErrUnknownStore, onlyStore)
		}
	}
	lock, err := m.lock(ctx)
	if err != nil {
		return Summary{}, err
	}
	defer pglock.Unlock(lock, lockKey)

	if _, err := m.db.Exec(ctx, qCloseInterruptedJobs); err != nil {
		return Summary{}, fmt.Errorf("close interrupted jobs: %w", err)
	}
	if _, err := m.db.Exec(ctx, qPruneJobs, m.cfg.JobRetention); err != nil {
		return Summary{}, fmt.Errorf("prune finished jobs: %w", err)
	}

	p := &pass{m: m, only: onlyStore, opened: map[int32]*opened{}}
	renewCtx, stopRenew := context.WithCancel(ctx)
	var renewing sync.WaitGroup
	renewing.Add(1)
	go func() {
		defer renewing.Done()
		m.renewLoop(renewCtx)
	}()
	defer func() {
		stopRenew()
		renewing.Wait()
	}()

	for _, phase := range []struct {
		name string
		run  func(context.Context, *storeRow) error
	}{
		{KindVerify, p.verify},
		{KindPopulate, p.populate},
		{KindDrain, p.drain},
		{KindEvict, p.evict},
		{KindSweep, p.sweep},
	} {
		// The lock lives as long as its connection: a pass that lost it
		// stops before another runner could be working beside it.
		if err := lock.Ping(ctx); err != nil {
			return p.summary, fmt.Errorf("lost the maintenance lock's connection: %w", err)
		}
		rows, err := p.loadStores(ctx)
		if err != nil {
			return p.summary, err
		}
		for i := range rows {
			st := &rows[i]
			if onlyStore != "" && st.Name != onlyStore {
				continue
			}
			if err := phase.run(ctx, st); err != nil {
				return p.summary, err
			}
			if err := ctx.Err(); err != nil {
				return p.summary, err
			}
		}
	}
	return p.summary, nil
}

// Run runs a pass at once and then every interval until ctx ends. A pass
// that finds another runner at work, or fails, is logged, and the next
// one tries again.
func (m *Maintainer) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("maintenance interval %s must be positive", interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		start := time.Now()
		sum, err := m.RunOnce(ctx, "")
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrLocked):
			m.log.Info("maintenance pass skipped", "reason", err)
		case err != nil:
			m.log.Warn("maintenance pass failed; the next one tries again", "err", err, "next_in", interval)
		default:
			m.log.Info("maintenance pass done", "jobs", len(sum.Jobs), "took", time.Since(start).Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// renewLoop renews the pass's reservations until ctx ends.
func (m *Maintainer) renewLoop(ctx context.Context) {
	placement.RenewReservations(ctx, m.db, m.cfg.Name, func(err error) {
		m.log.Warn("could not renew the room of copies in flight", "err", err)
	})
}

// pass is the state of one pass.
type pass struct {
	m    *Maintainer
	only string

	mu      sync.Mutex
	stores  map[int32]storeRow // the rows last loaded, by id
	opened  map[int32]*opened
	summary Summary
}

// loadStores reads the stores afresh, with the bytes each holds now.
func (p *pass) loadStores(ctx context.Context) ([]storeRow, error) {
	rows, err := p.m.db.Query(ctx, qStores)
	if err != nil {
		return nil, fmt.Errorf("read stores: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[storeRow])
	if err != nil {
		return nil, fmt.Errorf("read stores: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stores = make(map[int32]storeRow, len(list))
	for _, r := range list {
		p.stores[r.ID] = r
	}
	return list, nil
}

// row returns the last loaded row of store id.
func (p *pass) row(id int32) (storeRow, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.stores[id]
	return r, ok
}

// open returns store st opened, once a pass for each version of its row;
// a store that cannot be opened is logged once.
func (p *pass) open(ctx context.Context, st storeRow) (Store, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o, ok := p.opened[st.ID]; ok && o.row.Kind == st.Kind && o.row.Settings == st.Settings && o.row.BaseURL == st.BaseURL {
		return o.store, o.err
	}
	s, err := p.m.cfg.Open(ctx, st.Kind, []byte(st.Settings), st.BaseURL)
	if err != nil {
		err = fmt.Errorf("open store %s: %w", st.Name, err)
		p.m.log.Error("a store cannot be opened; its work waits", "store", st.Name, "kind", st.Kind, "err", err)
	}
	p.opened[st.ID] = &opened{row: st, store: s, err: err}
	return s, err
}

// add appends a job's summary.
func (p *pass) add(s JobSummary) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.summary.Jobs = append(p.summary.Jobs, s)
}

// failJob records a job of kind for st that could not start, with why.
func (p *pass) failJob(ctx context.Context, st *storeRow, kind string, total int64, why error) error {
	j, err := p.m.startJob(ctx, st, kind, total)
	if err != nil {
		return err
	}
	j.setError(why.Error())
	p.add(j.finish(ctx))
	return nil
}
