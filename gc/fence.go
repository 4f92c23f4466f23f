package gc

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
)

// EdgeFence is what one registered edge does to the payload fence.
type EdgeFence struct {
	Name string `json:"name"`
	Slot string `json:"slot"`
	// State is "streaming", "away" (not streaming, seen within the edge
	// timeout), "rebuilding" (bootstrapping a new replica while serving
	// its old one), "no slot" (its slot is gone and it is not rebuilding
	// yet) or "timed out" (not seen within the edge timeout).
	State string `json:"state"`
	// Holds says whether it holds the fence, at LSN.
	Holds    bool      `json:"holds"`
	LSN      string    `json:"lsn,omitempty"`
	LastSeen time.Time `json:"last_seen"`
}

// fence decides, for each registered edge, whether and where it holds the
// fence, and returns the fence: the lowest LSN a live edge holds, nil
// when none holds one.
//
// An edge is live while its slot streams, and for EdgeTimeout after it
// was last seen. A live edge holds the fence at the LSN its replica
// reflects: its slot's confirmed LSN (the replicator confirms only what
// its replica holds durably); while it rebuilds its replica after losing
// its slot, the LSN of the old replica it still serves; and when its slot
// is gone and it has not begun to rebuild, at 0, holding every payload,
// since the replica it may be serving is of unknown age. An edge past
// the timeout holds nothing and is reported: when it comes back it
// streams from its slot, or bootstraps from a snapshot that postdates
// every delete, and until it has caught up it may send clients to bytes
// deleted meanwhile.
func (r *run) fence(ctx context.Context) (*string, error) {
	rows, err := r.conn.Query(ctx, qEdges)
	if err != nil {
		return nil, fmt.Errorf("read the edges: %w", err)
	}
	var fence *pglogrepl.LSN
	hold := func(e *EdgeFence, lsn string) error {
		l := pglogrepl.LSN(0)
		if lsn != "" {
			var err error
			if l, err = pglogrepl.ParseLSN(lsn); err != nil {
				return fmt.Errorf("edge %s: LSN %q: %w", e.Name, lsn, err)
			}
		}
		e.Holds, e.LSN = true, l.String()
		if fence == nil || l < *fence {
			fence = &l
		}
		return nil
	}
	var (
		name, slot, walStatus string
		slotExists, active    bool
		confirmed, serving    *string
		rebuilding            *time.Time
		seen, now             time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &slot, &slotExists, &active, &walStatus, &confirmed,
		&rebuilding, &serving, &seen, &now}, func() error {
		e := EdgeFence{Name: name, Slot: slot, LastSeen: seen}
		var err error
		switch {
		case !active && now.Sub(seen) > r.c.cfg.EdgeTimeout:
			e.State = "timed out"
			r.c.log.Warn("an edge not seen within the edge timeout no longer holds back payload deletion",
				"edge", name, "last_seen", seen.UTC().Format(time.RFC3339), "edge_timeout", r.c.cfg.EdgeTimeout)
		case rebuilding != nil:
			e.State = "rebuilding"
			err = hold(&e, deref(serving))
		case !slotExists:
			e.State = "no slot"
			err = hold(&e, "")
		case walStatus == "lost":
			// It serves what it had applied, and rebuilds when it next
			// connects.
			e.State = "slot lost"
			err = hold(&e, deref(confirmed))
		case active:
			e.State = "streaming"
			err = hold(&e, deref(confirmed))
		default:
			e.State = "away"
			err = hold(&e, deref(confirmed))
		}
		r.rep.Edges = append(r.rep.Edges, e)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the edges: %w", err)
	}
	if fence == nil {
		return nil, nil
	}
	s := fence.String()
	r.rep.Fence = s
	return &s, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
