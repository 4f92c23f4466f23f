package maintain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// verifyRow is a row of verify_batch.sql.
type verifyRow struct {
	URL, Key, Hash string
	Size           int64
}

// verify re-hashes up to VerifySample good locations of st, least recently
// verified first: one whose object is absent is marked missing, one whose
// bytes do not hash to its file's hash corrupt, a good one gets its
// verified_at. One that cannot be read (the store is unreachable) keeps
// its state and counts as failed.
func (p *pass) verify(ctx context.Context, st *storeRow) error {
	sample := p.m.cfg.VerifySample
	if sample <= 0 {
		return nil
	}
	var good int64
	if err := p.m.db.QueryRow(ctx, qCountGood, st.ID).Scan(&good); err != nil {
		return fmt.Errorf("count locations of store %s: %w", st.Name, err)
	}
	total := min(good, sample)
	if total == 0 {
		return nil
	}
	s, err := p.open(ctx, *st)
	if err != nil {
		return p.failJob(ctx, st, KindVerify, total, err)
	}
	j, err := p.m.startJob(ctx, st, KindVerify, total)
	if err != nil {
		return err
	}
	defer func() { p.add(j.finish(ctx)) }()

	var (
		unread   []string // locations that could not be read, left out of later batches
		unreadMu sync.Mutex
	)
	for left := total; left > 0 && ctx.Err() == nil && !j.stopping(); {
		unreadMu.Lock()
		skip := append([]string{}, unread...) // not nil: NULL would match nothing
		unreadMu.Unlock()
		rows, err := p.m.db.Query(ctx, qVerifyBatch, st.ID, j.started, min(left, batchSize), skip)
		if err != nil {
			return fmt.Errorf("read locations of store %s: %w", st.Name, err)
		}
		batch, err := pgx.CollectRows(rows, pgx.RowToStructByPos[verifyRow])
		if err != nil {
			return fmt.Errorf("read locations of store %s: %w", st.Name, err)
		}
		if len(batch) == 0 {
			break // fewer good locations than counted: some went meanwhile
		}
		left -= int64(len(batch))
		var g errgroup.Group
		g.SetLimit(p.m.cfg.Jobs)
		for _, loc := range batch {
			if ctx.Err() != nil || j.stopping() {
				break
			}
			f := file{URL: loc.URL, Hash: loc.Hash, Size: loc.Size}
			key := loc.Key
			g.Go(func() error {
				switch state, n, err := p.verifyOne(ctx, &f, st, s, key); {
				case err != nil:
					unreadMu.Lock()
					unread = append(unread, f.URL)
					unreadMu.Unlock()
					if ctx.Err() == nil {
						p.m.log.Warn("a copy could not be verified", "store", st.Name, "key", key, "err", err)
						j.failed(err)
					}
				case state == "good":
					j.did(n)
				default:
					p.markBad(ctx, &f, st, key, state)
					j.found(n, state)
				}
				return nil
			})
		}
		g.Wait()
	}
	return nil
}

// verifyOne hashes key of s and says what the location is: good (and
// records it verified), missing or corrupt; an error when it cannot tell.
func (p *pass) verifyOne(ctx context.Context, f *file, st *storeRow, s Store, key string) (state string, n int64, err error) {
	want, err := f.digest()
	if err != nil {
		return "", 0, err
	}
	got, n, err := sum(ctx, s, key)
	switch {
	case errors.Is(err, fs.ErrNotExist) && ctx.Err() == nil:
		return "missing", 0, nil
	case err != nil:
		return "", 0, err
	case n != f.Size || !bytes.Equal(got, want):
		return "corrupt", n, nil
	}
	if _, err := p.m.db.Exec(ctx, qMarkVerified, f.URL, st.ID); err != nil {
		return "", n, fmt.Errorf("record verification of %s: %w", f.URL, err)
	}
	return "good", n, nil
}
