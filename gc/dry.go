package gc

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// dry reports, and lists, what a run would delete now, changing nothing:
// the marked paths, the files they alone list, the files ready to retire,
// and the tombstones the fence has passed.
func (r *run) dry(ctx context.Context) error {
	list := r.opts.List
	if list == nil {
		list = func(kind, name, store string, size int64) {}
	}
	rows, err := r.conn.Query(ctx, qGarbagePaths)
	if err != nil {
		return fmt.Errorf("list the marked paths: %w", err)
	}
	var name string
	if _, err := pgx.ForEachRow(rows, []any{&name}, func() error {
		list("path", name, "", 0)
		return nil
	}); err != nil {
		return fmt.Errorf("list the marked paths: %w", err)
	}
	r.rep.PathsSwept = r.rep.Garbage
	byStore := map[string]*StoreBytes{}
	files := func(q string, n *int64, args ...any) error {
		rows, err := r.conn.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		var url string
		var store *string
		var size int64
		last := ""
		_, err = pgx.ForEachRow(rows, []any{&url, &store, &size}, func() error {
			if url != last {
				*n++
				last = url
			}
			s := deref(store)
			list("file", url, s, size)
			if s == "" {
				return nil
			}
			b := byStore[s]
			if b == nil {
				b = &StoreBytes{Store: s}
				byStore[s] = b
			}
			b.Files++
			b.Bytes += size
			return nil
		})
		return err
	}
	if err := files(qDryFiles, &r.rep.FilesUnlisted); err != nil {
		return fmt.Errorf("list the files the marked paths list: %w", err)
	}
	if _, _, _, err := r.retirable(ctx); err != nil {
		return err
	}
	if err := files(qDryRetirable, &r.rep.FilesRetired); err != nil {
		return fmt.Errorf("list the files ready to retire: %w", err)
	}
	for _, b := range byStore {
		r.rep.Stores = append(r.rep.Stores, *b)
	}
	slices.SortFunc(r.rep.Stores, func(a, b StoreBytes) int { return strings.Compare(a.Store, b.Store) })
	fence, err := r.fence(ctx)
	if err != nil {
		return err
	}
	var waiting, waitingBytes int64
	if err := r.conn.QueryRow(ctx, qFenced, fence).Scan(&waiting, &waitingBytes, &r.rep.ObjectsFreed, &r.rep.BytesFreed); err != nil {
		return fmt.Errorf("count tombstones: %w", err)
	}
	r.rep.ObjectsFenced, r.rep.BytesFenced = waiting-r.rep.ObjectsFreed, waitingBytes-r.rep.BytesFreed
	return nil
}
