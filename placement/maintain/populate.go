package maintain

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/narthex-cache/narthex/stores"
)

// missingRow is a row of missing_batch.sql.
type missingRow struct {
	URL, Hash string
	Size      int64
	Created   time.Time
	// SrcStores and SrcKeys are the file's good copies elsewhere, best
	// first: store and key, one order.
	SrcStores []int32
	SrcKeys   []string
}

// sources are the row's copies elsewhere, best first.
func (r missingRow) sources() []source {
	src := make([]source, min(len(r.SrcStores), len(r.SrcKeys)))
	for i := range src {
		src[i] = source{StoreID: r.SrcStores[i], Key: r.SrcKeys[i]}
	}
	return src
}

// populate copies into st, when it has populate, every NAR file it holds
// no good copy of, newest first, from the best good copy elsewhere (a
// write-only backup included, last). A store that is read_only, draining
// or of a kind that takes no writes is passed over with the reason logged.
//
// Population stops at the store's soft_max_size as well as its max_size:
// eviction moves files out past the soft limit, so filling beyond it would
// only make the next pass move the same bytes twice. A store that fills up
// is reported full, and the files left are copied once room is made.
//
// Copies are recorded in batches (see recorder), so that a worker goes on
// to the next file while its copy waits to be recorded with others; the
// job ends once every copy made is recorded.
func (p *pass) populate(ctx context.Context, st *storeRow) error {
	if !st.Populate {
		return nil
	}
	if st.Kind == stores.KindHTTP || st.ReadOnly || st.Drain {
		p.m.log.Warn("a store to populate takes no writes; set read_only or drain off, or populate off",
			"store", st.Name, "kind", st.Kind, "read_only", st.ReadOnly, "drain", st.Drain)
		return nil
	}
	var total int64
	if err := p.m.db.QueryRow(ctx, qCountMissing, st.ID).Scan(&total); err != nil {
		return fmt.Errorf("count files store %s lacks: %w", st.Name, err)
	}
	if total == 0 {
		return nil
	}
	dst, err := p.open(ctx, *st)
	if err != nil {
		return p.failJob(ctx, st, KindPopulate, total, err)
	}
	listed, err := p.unrecorded(ctx, st, dst)
	if err != nil {
		p.m.log.Warn("could not list a store to populate; asking it for each file instead", "store", st.Name, "err", err)
		listed = nil
	}
	j, err := p.m.startJob(ctx, st, KindPopulate, total)
	if err != nil {
		return err
	}
	defer func() { p.add(j.finish(ctx)) }()
	rec := p.newRecorder(ctx, st, j)
	defer rec.close() // after the copies below, before the job's end

	var full atomic.Bool
	var noSource onceFlag
	w := newWorkers(p.m.cfg.Jobs)
	defer w.Wait()
	after, afterURL := pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}, ""
	for ctx.Err() == nil && !full.Load() && !j.stopping() {
		rows, err := p.m.db.Query(ctx, qMissingBatch, st.ID, after, afterURL, batchSize)
		if err != nil {
			return fmt.Errorf("read files store %s lacks: %w", st.Name, err)
		}
		batch, err := pgx.CollectRows(rows, pgx.RowToStructByPos[missingRow])
		if err != nil {
			return fmt.Errorf("read files store %s lacks: %w", st.Name, err)
		}
		if len(batch) == 0 {
			break
		}
		last := batch[len(batch)-1]
		after, afterURL = pgtype.Timestamptz{Time: last.Created, Valid: true}, last.URL
		for _, r := range batch {
			if ctx.Err() != nil || full.Load() || j.stopping() {
				break
			}
			f := &file{URL: r.URL, Hash: r.Hash, Size: r.Size}
			srcs := r.sources()
			w.Go(func() {
				c, err := p.copyIn(ctx, f, st, dst, srcs, listed)
				switch {
				case errors.Is(err, errNoRoom):
					if !full.Swap(true) {
						p.m.log.Warn("a store to populate is full; the files left wait for room", "store", st.Name, "err", err)
						j.setError(err.Error())
					}
				case errors.Is(err, errNoSource):
					if noSource.first() {
						p.m.log.Warn("files with no good copy anywhere stay missing from a store to populate", "store", st.Name, "err", err)
					}
					j.skipped(err)
				case err != nil && ctx.Err() != nil:
				case err != nil:
					p.m.log.Warn("a file could not be copied in", "store", st.Name, "url", f.URL, "err", err)
					j.failed(err)
				default:
					rec.add(c) // counted done once recorded
				}
			})
		}
	}
	return nil
}
