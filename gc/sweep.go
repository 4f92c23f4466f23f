package gc

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// maxPasses bounds the passes over the paths a sweep kept: a path whose
// referrer was uploaded in the same instant (a bulk load) may come before
// it in sweep order and be kept for it, and goes in the next pass once
// the referrer is gone.
const maxPasses = 3

// sweep deletes the marked paths, a batch at a time, newest first.
func (r *run) sweep(ctx context.Context) error {
	began := time.Now()
	defer func() { r.rep.SweepSeconds = time.Since(began).Seconds() }()
	var kept []string
	var done int64
	// Pass one pages through the mark; later passes retry what was kept.
	after := struct {
		at   time.Time
		hash string
	}{time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), ""}
	for {
		rows, err := r.conn.Query(ctx, qGarbagePage, after.at, after.hash, r.c.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("read the mark: %w", err)
		}
		var batch []string
		_, err = pgx.ForEachRow(rows, []any{&after.hash, &after.at}, func() error {
			batch = append(batch, after.hash)
			return nil
		})
		if err != nil {
			return fmt.Errorf("read the mark: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		k, err := r.sweepBatch(ctx, batch)
		if err != nil {
			return err
		}
		kept = append(kept, k...)
		done += int64(len(batch))
		r.progress("sweep", done, r.rep.Garbage)
		r.record(ctx, "sweep", nil, false)
	}
	for pass := 2; pass <= maxPasses && len(kept) > 0; pass++ {
		before := r.rep.PathsSwept
		retry := kept
		kept = nil
		for len(retry) > 0 {
			n := min(len(retry), r.c.cfg.BatchSize)
			k, err := r.sweepBatch(ctx, retry[:n])
			if err != nil {
				return err
			}
			kept = append(kept, k...)
			retry = retry[n:]
		}
		if r.rep.PathsSwept == before {
			break
		}
	}
	r.rep.PathsKept = int64(len(kept))
	r.c.log.Info("swept", "paths", r.rep.PathsSwept, "kept", r.rep.PathsKept,
		"files_unlisted", r.rep.FilesUnlisted, "batches", r.rep.Batches, "seconds", round(time.Since(began).Seconds()))
	return nil
}

// sweepBatch deletes those of the marked paths batch that are still
// garbage once locked, in one transaction, and returns the ones it kept.
func (r *run) sweepBatch(ctx context.Context, batch []string) ([]string, error) {
	began := time.Now()
	var gone, unlisted int64
	var locked []string
	err := pgx.BeginFunc(ctx, r.conn, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, qLockPaths, batch)
		if err != nil {
			return err
		}
		if locked, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		if len(locked) == 0 {
			return nil
		}
		return tx.QueryRow(ctx, qSweepPaths, locked, r.graceCut(), r.keepCut()).Scan(&gone, &unlisted)
	})
	if err != nil {
		return nil, fmt.Errorf("sweep a batch of %d paths: %w", len(batch), err)
	}
	r.rep.PathsSwept += gone
	r.rep.FilesUnlisted += unlisted
	r.rep.Batches++
	r.rep.MaxBatchSeconds = max(r.rep.MaxBatchSeconds, time.Since(began).Seconds())
	if gone == int64(len(batch)) {
		return nil, nil
	}
	// Which ones stayed is a question for the database: the batch's rows
	// that still exist, kept in sweep order.
	rows, err := r.conn.Query(ctx, qStillThere, batch)
	if err != nil {
		return nil, fmt.Errorf("read what a batch kept: %w", err)
	}
	there, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read what a batch kept: %w", err)
	}
	left := make(map[string]bool, len(there))
	for _, h := range there {
		left[h] = true
	}
	var kept []string
	for _, h := range batch {
		if left[h] {
			kept = append(kept, h)
		}
	}
	return kept, nil
}
