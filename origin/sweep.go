package origin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/narinfo"
	"github.com/narthex-cache/narthex/stores"
)

// leftoverStore is a store whose crash leftovers the origin sweeps.
type leftoverStore interface {
	// RemoveTemp removes the temporary files last written before
	// olderThan and returns them.
	RemoveTemp(ctx context.Context, olderThan time.Time) ([]stores.TempFile, error)
	// Walk calls fn with each object under prefix.
	Walk(ctx context.Context, prefix string, fn func(key string, size int64) error) error
	// Sum returns the SHA-256 digest and size of the object key.
	Sum(ctx context.Context, key string) ([]byte, int64, error)
	Delete(ctx context.Context, key string) error
}

var _ leftoverStore = (*stores.Local)(nil)

// sweepBatch is how many NAR files one query checks for their record.
const sweepBatch = 1000

// sweepLoop sweeps the local store at once and then every SweepInterval
// until ctx ends: the first sweep also settles the NAR files no row
// records; later ones only remove stale temporary files. Each also removes
// the fetch counts older than FetchCountRetention.
func (s *Server) sweepLoop(ctx context.Context) {
	full := true
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		err := s.sweep(ctx, full)
		if rerr := s.expireFetchCounts(ctx); rerr != nil && ctx.Err() == nil {
			s.log.Warn("removing old fetch counts failed; trying again later", "err", rerr)
		}
		if _, rerr := s.db.Exec(ctx, qEdgesSeenStreaming); rerr != nil && ctx.Err() == nil {
			s.log.Warn("recording the edges seen streaming failed; trying again later", "err", rerr)
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.Warn("sweep of the local store failed; trying again later", "err", err)
		default:
			full = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweep removes the temporary files of uploads a crash interrupted, and,
// when full, settles the NAR files in the local store that no row records.
func (s *Server) sweep(ctx context.Context, full bool) error {
	removed, err := s.leftovers.RemoveTemp(ctx, time.Now().Add(-s.cfg.TempFileMaxAge))
	for _, f := range removed {
		s.metrics.sweptTempFiles.Inc()
		s.metrics.sweptTempBytes.Add(float64(f.Size))
		s.log.Info("removed an interrupted upload's temporary file", "path", f.Path,
			"bytes", f.Size, "last_written", f.ModTime.UTC().Format(time.RFC3339))
	}
	if err != nil || !full {
		return err
	}
	return s.settleUnrecorded(ctx)
}

// settleUnrecorded finds the NAR files of the local store that no
// payload_location row records, and records or removes each.
//
// Such a file is left by a crash (or a database failure) between the
// rename that commits an upload's bytes and the statement that records
// them. Recording it is safe: its name is its SHA-256, so once its bytes
// are checked against the name the row says exactly what an upload of it
// would have said (size from the file, compression from the extension),
// and the record is idempotent, so racing an upload of the same file is
// harmless. A file whose bytes do not match its name was not written by
// Put, which renames only checked bytes: it is removed.
func (s *Server) settleUnrecorded(ctx context.Context) error {
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		recorded := map[string]bool{}
		rows, err := s.db.Query(ctx, qRecordedNarFiles, s.storeID, batch)
		if err != nil {
			return fmt.Errorf("read recorded NAR files: %w", err)
		}
		for rows.Next() {
			var url string
			if err := rows.Scan(&url); err != nil {
				rows.Close()
				return fmt.Errorf("read recorded NAR files: %w", err)
			}
			recorded[url] = true
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read recorded NAR files: %w", err)
		}
		for _, key := range batch {
			if !recorded[key] {
				if err := s.settle(ctx, key); err != nil {
					return err
				}
			}
		}
		batch = batch[:0]
		return nil
	}
	err := s.leftovers.Walk(ctx, "nar", func(key string, size int64) error {
		if _, _, err := narinfo.ParseNarFileName(key); err != nil {
			return nil // not a NAR file the origin names; not ours to judge
		}
		batch = append(batch, key)
		if len(batch) < sweepBatch {
			return nil
		}
		return flush()
	})
	if err != nil {
		return err
	}
	return flush()
}

// settle records the unrecorded NAR file key when its bytes hash to its
// name, and removes it otherwise.
func (s *Server) settle(ctx context.Context, key string) error {
	fileHash, compression, _ := narinfo.ParseNarFileName(key)
	sum, n, err := s.leftovers.Sum(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed meanwhile
	}
	if err != nil {
		return err
	}
	if got := "sha256:" + nixbase32.EncodeToString(sum); got != fileHash {
		if err := s.leftovers.Delete(ctx, key); err != nil {
			return err
		}
		s.metrics.sweptNarFiles.WithLabelValues("removed").Inc()
		s.log.Warn("removed an unrecorded NAR file whose bytes do not match its name",
			"key", key, "bytes", n, "sha256", got)
		return nil
	}
	if _, err := s.db.Exec(ctx, qRecordNarFile, key, fileHash, n, compression, s.storeID, key, nil, nil, nil); err != nil {
		return fmt.Errorf("record NAR file %s: %w", key, err)
	}
	s.metrics.sweptNarFiles.WithLabelValues("recorded").Inc()
	s.log.Info("recorded a NAR file an interrupted upload left unrecorded", "key", key, "bytes", n)
	return nil
}

// expireBatches is how many batches of fetch counts one statement removes,
// so that no transaction holds many locks for long.
const expireBatches = 1000

// expireFetchCounts removes the batches of fetch counts flushed longer
// than FetchCountRetention ago, with their counts (their roll-ups stay),
// and moves the windows of the busiest keys up to today.
func (s *Server) expireFetchCounts(ctx context.Context) error {
	if _, err := s.db.Exec(ctx, qAdvanceFetchWindows); err != nil {
		return fmt.Errorf("move the fetch windows: %w", err)
	}
	for {
		tag, err := s.db.Exec(ctx, qExpireFetchCounts, s.cfg.FetchCountRetention, expireBatches)
		if err != nil {
			return fmt.Errorf("remove old fetch counts: %w", err)
		}
		s.metrics.expiredFetchBatches.Add(float64(tag.RowsAffected()))
		if tag.RowsAffected() < expireBatches {
			return nil
		}
	}
}
