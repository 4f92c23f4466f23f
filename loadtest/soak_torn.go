package loadtest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// tornWait is how long the torn check waits for the first path of a
// sampled transaction to show before it gives the sample up.
const tornWait = 10 * time.Second

// victimDownPause spaces the torn check's probes of an edge that is down.
const victimDownPause = 10 * time.Millisecond

// hashOfPath is the hash of soak path i.
func (r *soakRun) hashOfPath(i int) string { return hashOf(domainSoak, r.synth.Seed, int64(i)) }

// tornCheck samples transactions of several paths as they are
// acknowledged, on the edge at url, until ctx ends. gen, when not nil,
// grows whenever the edge is killed.
func (r *soakRun) tornCheck(ctx context.Context, c *committer, url string, gen *atomic.Int64, wake <-chan struct{}) SoakTorn {
	var t SoakTorn
	u, _ := CheckURL(url)
	deadline, _ := ctx.Deadline()
	p := newEdgeProber(url, u, deadline.Add(dialTimeout))
	defer p.close()
	var next time.Time
	probe := func(hash string) (bool, error) {
		if wait := time.Until(next); wait > 0 {
			pause(wait)
		}
		next = time.Now().Add(r.cfg.ProbeInterval)
		t.Probes++
		return p.visible(ctx, hash)
	}
	last := -1 // the last transaction sampled
	for ctx.Err() == nil {
		k := -1
		n := int(c.committed.Load())
		for j := n - 1; j > last && j >= n-16; j-- {
			if r.first[j+1]-r.first[j] >= 2 {
				k = j
				break
			}
		}
		if k < 0 {
			select {
			case <-ctx.Done():
			case <-wake:
			}
			continue
		}
		last = k
		var g0 int64
		if gen != nil {
			g0 = gen.Load()
		}
		verdict := r.judgeTx(ctx, k, probe)
		if gen != nil && gen.Load() != g0 && verdict != txUnresolved {
			verdict = txInterrupted
		}
		switch verdict {
		case txWhole, txWholeCaught:
			t.Samples++
			if verdict == txWholeCaught {
				t.Caught++
			}
		case txTorn, txTornCaught:
			t.Samples++
			t.Torn++
			if verdict == txTornCaught {
				t.Caught++
			}
			if t.FirstTorn == "" {
				t.FirstTorn = r.describeTx(k)
			}
		case txInterrupted:
			t.Interrupted++
			pause(victimDownPause)
		case txUnresolved:
			t.Unresolved++
		}
	}
	return t
}

// txVerdict is what the torn check found of one transaction.
type txVerdict int

const (
	txWhole       txVerdict = iota // every path showed with the first
	txWholeCaught                  // so, and the first was missing at first
	txTorn                         // the first path showed, another not
	txTornCaught
	txInterrupted // a probe failed, or ctx ended
	txUnresolved  // the first path did not show within tornWait
)

// judgeTx probes the first path of transaction k until it shows, then each
// other path once, in order.
func (r *soakRun) judgeTx(ctx context.Context, k int, probe func(string) (bool, error)) txVerdict {
	caught := false
	giveUp := time.Now().Add(tornWait)
	for {
		ok, err := probe(r.hashOfPath(r.first[k]))
		switch {
		case err != nil || ctx.Err() != nil:
			return txInterrupted
		case ok:
			for i := r.first[k] + 1; i < r.first[k+1]; i++ {
				ok, err := probe(r.hashOfPath(i))
				switch {
				case err != nil:
					return txInterrupted
				case !ok && caught:
					return txTornCaught
				case !ok:
					return txTorn
				}
			}
			if caught {
				return txWholeCaught
			}
			return txWhole
		}
		caught = true
		if time.Now().After(giveUp) {
			return txUnresolved
		}
	}
}

// describeTx names transaction k and its paths.
func (r *soakRun) describeTx(k int) string {
	var hashes []string
	for i := r.first[k]; i < r.first[k+1]; i++ {
		hashes = append(hashes, r.hashOfPath(i))
	}
	return fmt.Sprintf("transaction %d (%s)", k, strings.Join(hashes, ", "))
}
