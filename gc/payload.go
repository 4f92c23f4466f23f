package gc

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// retireBatch bounds the NAR files one retirement transaction takes. Each
// location it deletes moves its store's usage (store_usage, kept by
// trigger), whose row every upload into that store updates as well: the
// row stays locked until the transaction commits, and an upload that
// records itself meanwhile waits. A couple of hundred files commit in a
// fraction of a second even on a busy machine.
const retireBatch = 200

// retire removes the locations of the NAR files no narinfo lists once
// their graces have passed, giving each location's bytes a tombstone.
func (r *run) retire(ctx context.Context) error {
	began := time.Now()
	defer func() { r.rep.PayloadSeconds += time.Since(began).Seconds() }()
	total, graceCut, payloadCut, err := r.retirable(ctx)
	if err != nil {
		return err
	}
	var done int64
	after := ""
	for {
		rows, err := r.conn.Query(ctx, qFilesPage, after, min(r.c.cfg.BatchSize, retireBatch))
		if err != nil {
			return fmt.Errorf("read the files to retire: %w", err)
		}
		batch, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("read the files to retire: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		after = batch[len(batch)-1]
		var files, tombs, bytes int64
		err = pgx.BeginFunc(ctx, r.conn, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, qLockFiles, batch)
			if err != nil {
				return err
			}
			locked, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil || len(locked) == 0 {
				return err
			}
			return tx.QueryRow(ctx, qRetireFiles, locked, graceCut, payloadCut).Scan(&files, &tombs, &bytes)
		})
		if err != nil {
			return fmt.Errorf("retire a batch of %d files: %w", len(batch), err)
		}
		r.rep.FilesRetired += files
		done += int64(len(batch))
		r.progress("retire", done, total)
		r.record(ctx, "retire", nil, false)
	}
	// Every retirement has committed: the tombstones get a WAL position
	// past the last commit, and so past each (also those of a killed run,
	// which committed and never stamped them).
	if _, err := r.conn.Exec(ctx, qStampTombstones); err != nil {
		return fmt.Errorf("stamp tombstones: %w", err)
	}
	r.c.log.Info("retired NAR files", "files", r.rep.FilesRetired)
	return nil
}

// retirable fills gc_files with the NAR files ready to retire now, and
// returns how many there are and the cut-offs it used: the grace and
// the payload grace counted back from the database's clock now, so that
// files this run unlisted count from when they were.
func (r *run) retirable(ctx context.Context) (n int64, graceCut, payloadCut time.Time, err error) {
	var now time.Time
	if err := r.conn.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
		return 0, now, now, fmt.Errorf("read the clock: %w", err)
	}
	graceCut, payloadCut = now.Add(-r.c.cfg.Grace), now.Add(-r.c.cfg.PayloadGrace)
	if _, err := r.conn.Exec(ctx, qCreateFiles); err != nil {
		return 0, graceCut, payloadCut, fmt.Errorf("find files to retire: %w", err)
	}
	if _, err := r.conn.Exec(ctx, "TRUNCATE gc_files"); err != nil {
		return 0, graceCut, payloadCut, fmt.Errorf("find files to retire: %w", err)
	}
	tag, err := r.conn.Exec(ctx, qRetirableFiles, graceCut, payloadCut)
	if err != nil {
		return 0, graceCut, payloadCut, fmt.Errorf("find files to retire: %w", err)
	}
	return tag.RowsAffected(), graceCut, payloadCut, nil
}

// tombstone is a row of lock_tombstones.sql.
type tombstone struct {
	id          int64
	key         string
	size        int64
	storeID     int32
	store, kind string
	baseURL     string
	settings    string
	recorded    bool // a location records the key again
}

// reap deletes the bytes of the tombstones the fence has passed.
func (r *run) reap(ctx context.Context) error {
	began := time.Now()
	defer func() { r.rep.PayloadSeconds += time.Since(began).Seconds() }()
	fence, err := r.fence(ctx)
	if err != nil {
		return err
	}
	var total, totalBytes int64
	if err := r.conn.QueryRow(ctx, qFenced, fence).Scan(new(int64), new(int64), &total, &totalBytes); err != nil {
		return fmt.Errorf("count tombstones: %w", err)
	}
	opened := map[int32]Store{}
	failed := map[int32]bool{} // stores that could not be opened or deleted from in this run
	var done int64
	for {
		var batch []tombstone
		var freed []int64
		err := pgx.BeginFunc(ctx, r.conn, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, qLockTombstones, fence, r.c.cfg.BatchSize, failedIDs(failed))
			if err != nil {
				return err
			}
			var t tombstone
			_, err = pgx.ForEachRow(rows, []any{&t.id, &t.key, &t.size, &t.storeID, &t.store, &t.kind,
				&t.baseURL, &t.settings, &t.recorded}, func() error {
				batch = append(batch, t)
				return nil
			})
			if err != nil {
				return err
			}
			for _, t := range batch {
				if t.recorded {
					// Written again and recorded since: the bytes are
					// someone's now.
					freed = append(freed, t.id)
					continue
				}
				st := r.open(ctx, opened, failed, t)
				if st == nil {
					continue
				}
				dctx, cancel := context.WithTimeout(ctx, deleteTimeout)
				err := st.Delete(dctx, t.key)
				cancel()
				if err != nil {
					r.c.log.Warn("could not delete a collected payload; its tombstone stays for the next run",
						"store", t.store, "key", t.key, "err", err)
					failed[t.storeID] = true
					r.rep.ObjectsFailed++
					continue
				}
				freed = append(freed, t.id)
				r.rep.ObjectsFreed++
				r.rep.BytesFreed += t.size
			}
			if len(freed) == 0 {
				return nil
			}
			_, err = tx.Exec(ctx, qDeleteTombstones, freed)
			return err
		})
		if err != nil {
			return fmt.Errorf("delete collected payloads: %w", err)
		}
		done += int64(len(batch))
		r.progress("delete", done, total)
		r.record(ctx, "delete", nil, false)
		if len(batch) < r.c.cfg.BatchSize {
			break
		}
	}
	if err := r.conn.QueryRow(ctx, qFenced, fence).Scan(&r.rep.ObjectsFenced, &r.rep.BytesFenced, new(int64), new(int64)); err != nil {
		return fmt.Errorf("count tombstones: %w", err)
	}
	if r.rep.ObjectsFreed > 0 || r.rep.ObjectsFenced > 0 {
		r.c.log.Info("deleted collected payloads", "objects", r.rep.ObjectsFreed, "bytes", r.rep.BytesFreed,
			"objects_waiting", r.rep.ObjectsFenced, "bytes_waiting", r.rep.BytesFenced, "fence", r.rep.Fence)
	}
	return nil
}

// deleteTimeout bounds the deletion of one object.
const deleteTimeout = time.Minute

// failedIDs lists the stores of failed.
func failedIDs(failed map[int32]bool) []int32 {
	ids := make([]int32, 0, len(failed))
	for id := range failed {
		ids = append(ids, id)
	}
	return ids
}

// open returns the store of t, opened once a run, or nil when it cannot
// be opened (logged once, and the store is passed over for the rest of
// the run).
func (r *run) open(ctx context.Context, opened map[int32]Store, failed map[int32]bool, t tombstone) Store {
	if st, ok := opened[t.storeID]; ok {
		return st
	}
	st, err := r.c.cfg.Open(ctx, t.kind, []byte(t.settings), t.baseURL)
	if err != nil {
		r.c.log.Warn("cannot open a store to delete collected payloads; they wait for the next run",
			"store", t.store, "err", err)
		failed[t.storeID] = true
		return nil
	}
	opened[t.storeID] = st
	return st
}
