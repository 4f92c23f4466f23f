package maintain

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// errNoTarget is returned by moveOut when no store can take a file.
var errNoTarget = errors.New("no eligible target")

// uploadTargets returns the stores a file moved out of store from may go
// to by the upload rules: writable (see storeRow.writable), other than
// from, by upload priority, highest first and unset last, then by id. The
// limits of each are checked per file, by reservation.
func (p *pass) uploadTargets(from *storeRow) []storeRow {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ts []storeRow
	for _, s := range p.stores {
		if s.ID != from.ID && s.writable() {
			ts = append(ts, s)
		}
	}
	slices.SortFunc(ts, func(a, b storeRow) int {
		switch {
		case a.UploadPriority == nil && b.UploadPriority != nil:
			return 1
		case a.UploadPriority != nil && b.UploadPriority == nil:
			return -1
		case a.UploadPriority != nil && *a.UploadPriority != *b.UploadPriority:
			return cmp.Compare(*b.UploadPriority, *a.UploadPriority)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return ts
}

// moveOut takes the copy of f out of store from. When another copy makes
// it redundant (see remove_location.sql) it is just removed; otherwise f
// is copied into the first of targets with room, and then removed. It
// returns the bytes written elsewhere, and an error matching errNoTarget,
// leaving the copy where it is, when no target takes it.
func (p *pass) moveOut(ctx context.Context, f *file, from *storeRow, fromStore Store, targets []storeRow) (int64, error) {
	removed, err := p.removeCopy(ctx, f, from, fromStore)
	if err != nil || removed {
		return 0, err
	}
	if len(targets) == 0 {
		return 0, fmt.Errorf("%w: no store takes writes by the upload rules (not read_only, write_only or draining)", errNoTarget)
	}
	var reasons []string
	for _, t := range targets {
		dst, err := p.open(ctx, t)
		if err != nil {
			reasons = append(reasons, err.Error())
			continue
		}
		srcs, err := p.sources(ctx, f, t.ID)
		if err != nil {
			return 0, err
		}
		c, err := p.copyIn(ctx, f, &t, dst, srcs, nil)
		if errors.Is(err, errNoRoom) {
			reasons = append(reasons, err.Error())
			continue
		}
		if err != nil {
			return 0, err
		}
		// The new copy is recorded before the old one goes, so that a
		// crash between the two leaves two copies, never none.
		if err := p.record(ctx, &t, []copied{c}); err != nil {
			return 0, err
		}
		removed, err := p.removeCopy(ctx, f, from, fromStore)
		if err != nil {
			return c.n, err
		}
		if !removed {
			return c.n, fmt.Errorf("copied %s into store %s, but its copy in store %s is still its last one clients can download", f.URL, t.Name, from.Name)
		}
		return c.n, nil
	}
	return 0, fmt.Errorf("%w: %s", errNoTarget, strings.Join(reasons, "; "))
}
