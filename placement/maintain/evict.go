package maintain

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"golang.org/x/sync/errgroup"
)

// evictRow is a row of evict_batch.sql.
type evictRow struct {
	URL, Key, State, Hash string
	Size                  int64
	Created               pgtype.Timestamptz
}

// evict moves files out of st, when it holds more than its soft_max_size,
// least recently fetched first (see evict_batch.sql for what stands for
// the fetch time), until it holds no more: a file with another good copy
// clients can download is just removed, others move to the stores the
// upload rules choose, as drains do. A draining store is left to its
// drain.
func (p *pass) evict(ctx context.Context, st *storeRow) error {
	if st.SoftMaxSize == nil || st.Bytes <= *st.SoftMaxSize || st.Drain {
		return nil
	}
	need := st.Bytes - *st.SoftMaxSize
	var total int64
	if err := p.m.db.QueryRow(ctx, qCountEvict, st.ID, need).Scan(&total); err != nil {
		return fmt.Errorf("count files to evict from store %s: %w", st.Name, err)
	}
	from, err := p.open(ctx, *st)
	if err != nil {
		return p.failJob(ctx, st, KindEvict, total, err)
	}
	targets := p.uploadTargets(st)
	j, err := p.m.startJob(ctx, st, KindEvict, total)
	if err != nil {
		return err
	}
	defer func() { p.add(j.finish(ctx)) }()

	var (
		mu       sync.Mutex
		freed    int64 // bytes moved out
		inFlight int64 // bytes being moved out
	)
	var g errgroup.Group
	g.SetLimit(p.m.cfg.Jobs)
	defer g.Wait()
	var noTarget onceFlag
	after, afterURL := pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}, ""
	for ctx.Err() == nil && !j.stopping() {
		rows, err := p.m.db.Query(ctx, qEvictBatch, st.ID, after, afterURL, batchSize)
		if err != nil {
			return fmt.Errorf("read locations of store %s: %w", st.Name, err)
		}
		batch, err := pgx.CollectRows(rows, pgx.RowToStructByPos[evictRow])
		if err != nil {
			return fmt.Errorf("read locations of store %s: %w", st.Name, err)
		}
		if len(batch) == 0 {
			break
		}
		after, afterURL = batch[len(batch)-1].Created, batch[len(batch)-1].URL
		for _, r := range batch {
			// Move out no more than needed: wait for the files in flight
			// when they would do.
			for {
				mu.Lock()
				enough, pending := freed >= need, freed+inFlight >= need
				if !enough && !pending {
					inFlight += r.Size
				}
				mu.Unlock()
				if enough {
					return nil
				}
				if !pending {
					break
				}
				g.Wait()
			}
			if ctx.Err() != nil || j.stopping() {
				return nil
			}
			f := &file{URL: r.URL, Hash: r.Hash, Size: r.Size}
			g.Go(func() error {
				_, err := p.moveOut(ctx, f, st, from, targets)
				mu.Lock()
				inFlight -= f.Size
				if err == nil {
					freed += f.Size
				}
				mu.Unlock()
				switch {
				case errors.Is(err, errNoTarget):
					if noTarget.first() {
						p.m.log.Error("a store past its soft_max_size keeps files no other store can take", "store", st.Name, "err", err)
					}
					j.skipped(err)
				case err != nil && ctx.Err() != nil:
				case err != nil:
					p.m.log.Warn("a file could not be moved out of a store past its soft_max_size", "store", st.Name, "url", f.URL, "err", err)
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
