package loadtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// sweepConns is how many connections per edge check every committed path
// at the end.
const sweepConns = 4

// sweepExtra bounds the time the check at the end takes after the grace
// period: it asks for every committed path once, then again for the
// missing ones.
const sweepExtra = 10 * time.Minute

// sweep waits, up to the grace period, for both edges to show the last
// committed path, then asks each edge for every committed path, and again
// for the missing ones until the grace period is over.
func (r *soakRun) sweep(ctx context.Context, res *SoakResult) error {
	n := int(res.Transactions)
	paths := r.first[n]
	graceEnd := time.Now().Add(r.cfg.Grace)
	for _, e := range []*SoakEdge{&res.Survivor, &res.Victim} {
		u, _ := CheckURL(e.URL)
		deadline := graceEnd.Add(sweepExtra)
		if n > 0 {
			p := newEdgeProber(e.URL, u, deadline)
			for time.Now().Before(graceEnd) && ctx.Err() == nil {
				if ok, _ := p.visible(ctx, r.hashOfPath(paths-1)); ok {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			p.close()
		}
		// Every path once, on sweepConns connections.
		missing := make([][]int, sweepConns)
		errs := make([]error, sweepConns)
		var wg sync.WaitGroup
		for w := range sweepConns {
			wg.Go(func() {
				p := newEdgeProber(e.URL, u, deadline)
				defer p.close()
				for i := w; i < paths && ctx.Err() == nil; i += sweepConns {
					ok, err := p.visible(ctx, r.hashOfPath(i))
					if err != nil {
						errs[w] = fmt.Errorf("soak: check %s: %w", e.Name, err)
						return
					}
					if !ok {
						missing[w] = append(missing[w], i)
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		lost := slices.Concat(missing...)
		slices.Sort(lost)
		// The missing ones again, until the grace period is over.
		p := newEdgeProber(e.URL, u, deadline)
		for len(lost) > 0 && time.Now().Before(graceEnd) && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			lost = slices.DeleteFunc(lost, func(i int) bool {
				ok, _ := p.visible(ctx, r.hashOfPath(i))
				return ok
			})
		}
		p.close()
		e.Verified = int64(paths - len(lost))
		e.LostPaths = int64(len(lost))
		r.countLost(e, lost)
	}
	return nil
}

// countLost turns the missing paths (sorted) into lost and partial
// transactions.
func (r *soakRun) countLost(e *SoakEdge, lost []int) {
	for j := 0; j < len(lost); {
		k := sort.SearchInts(r.first, lost[j]+1) - 1
		m := 0
		for j < len(lost) && lost[j] < r.first[k+1] {
			j++
			m++
		}
		e.Lost++
		if m < r.first[k+1]-r.first[k] {
			e.Partial++
		}
		if e.FirstLost == "" {
			e.FirstLost = r.describeTx(k)
		}
	}
}
