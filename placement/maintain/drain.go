package maintain

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// drainRow is a row of drain_batch.sql.
type drainRow struct {
	URL, Key, State, Hash string
	Size                  int64
}

// drain moves every copy out of st, when it has drain: to its drain_to
// store when set, else to the stores the upload rules choose, never
// taking a target past its soft_max_size or max_size. A copy that another
// good copy makes redundant is just removed; the last good copy, and the
// last clients can download, never is. When no target can take a file,
// the error names the drained store and why, and the copy stays.
func (p *pass) drain(ctx context.Context, st *storeRow) error {
	if !st.Drain {
		return nil
	}
	var total int64
	if err := p.m.db.QueryRow(ctx, qCountLocations, st.ID).Scan(&total); err != nil {
		return fmt.Errorf("count locations of store %s: %w", st.Name, err)
	}
	if total == 0 {
		return nil
	}
	from, err := p.open(ctx, *st)
	if err != nil {
		return p.failJob(ctx, st, KindDrain, total, err)
	}
	targets, err := p.drainTargets(st)
	if err != nil {
		p.m.log.Error("a store cannot be drained", "store", st.Name, "err", err)
		return p.failJob(ctx, st, KindDrain, total, err)
	}
	j, err := p.m.startJob(ctx, st, KindDrain, total)
	if err != nil {
		return err
	}
	defer func() { p.add(j.finish(ctx)) }()

	var g errgroup.Group
	g.SetLimit(p.m.cfg.Jobs)
	defer g.Wait()
	var noTarget onceFlag
	after := ""
	for ctx.Err() == nil && !j.stopping() {
		rows, err := p.m.db.Query(ctx, qDrainBatch, st.ID, after, batchSize)
		if err != nil {
			return fmt.Errorf("read locations of store %s: %w", st.Name, err)
		}
		batch, err := pgx.CollectRows(rows, pgx.RowToStructByPos[drainRow])
		if err != nil {
			return fmt.Errorf("read locations of store %s: %w", st.Name, err)
		}
		if len(batch) == 0 {
			break
		}
		after = batch[len(batch)-1].URL
		for _, r := range batch {
			if ctx.Err() != nil || j.stopping() {
				break
			}
			f := &file{URL: r.URL, Hash: r.Hash, Size: r.Size}
			g.Go(func() error {
				_, err := p.moveOut(ctx, f, st, from, targets)
				switch {
				case errors.Is(err, errNoTarget):
					if noTarget.first() {
						p.m.log.Error("a draining store keeps files no other store can take", "store", st.Name, "err", err)
					}
					j.skipped(err)
				case err != nil && ctx.Err() != nil:
				case err != nil:
					p.m.log.Warn("a file could not be moved out of a draining store", "store", st.Name, "url", f.URL, "err", err)
					j.failed(err)
				default:
					j.did(f.Size)
				}
				return nil
			})
		}
	}
	return nil
}

// drainTargets returns the stores st's files go to: its drain_to store
// when set, which must take writes, else the upload rules' choice.
func (p *pass) drainTargets(st *storeRow) ([]storeRow, error) {
	if st.DrainTo == nil {
		return p.uploadTargets(st), nil
	}
	t, ok := p.row(*st.DrainTo)
	switch {
	case !ok:
		return nil, fmt.Errorf("its drain target (store id %d) is gone", *st.DrainTo)
	case t.Kind == "http" || t.ReadOnly:
		return nil, fmt.Errorf("its drain target %s takes no writes (kind %s, read_only %t)", t.Name, t.Kind, t.ReadOnly)
	case t.Drain:
		return nil, fmt.Errorf("its drain target %s is draining too", t.Name)
	case t.WriteOnly && !st.WriteOnly:
		return nil, fmt.Errorf("its drain target %s is write_only: clients could no longer download what it holds", t.Name)
	}
	return []storeRow{t}, nil
}
