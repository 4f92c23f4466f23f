package loadtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSummarizeRSS(t *testing.T) {
	const mib = 1 << 20
	// A series over 10 minutes, a sample every 5 s: rss(t) in MiB.
	series := func(rss func(at time.Duration) int64) []RSSSample {
		var s []RSSSample
		for at := time.Duration(0); at <= 10*time.Minute; at += 5 * time.Second {
			s = append(s, RSSSample{At: at, RSS: rss(at) * mib})
		}
		return s
	}
	tests := []struct {
		name string
		rss  func(at time.Duration) int64
		flat bool
	}{
		{"flat after a warm-up", func(at time.Duration) int64 {
			if at < time.Minute {
				return 50
			}
			return 150
		}, true},
		{"grows by less than 16 MiB", func(at time.Duration) int64 { return 100 + int64(at/time.Minute) }, true},
		{"grows by under 10% of a large baseline", func(at time.Duration) int64 { return 1000 + 8*int64(at/time.Minute) }, true},
		{"grows steadily", func(at time.Duration) int64 { return 100 + 5*int64(at/time.Minute) }, false},
		{"jumps at the end", func(at time.Duration) int64 {
			if at > 9*time.Minute {
				return 200
			}
			return 100
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := summarizeRSS(series(tc.rss), 10*time.Minute, 5*time.Second)
			if m.Flat != tc.flat {
				t.Errorf("flat = %v, want %v: baseline %d, last %d, limit %d", m.Flat, tc.flat, m.BaselineMedian, m.LastMedian, m.Limit)
			}
			if m.Window != time.Minute {
				t.Errorf("window %v, want 1m", m.Window)
			}
		})
	}
	if m := summarizeRSS(nil, time.Minute, time.Second); m.Flat {
		t.Error("no samples judged flat")
	}
}

// fakeEdge answers probes from a set of visible hashes, which it may
// change after each probe.
type fakeEdge struct {
	visible map[string]bool
	after   func(probes int)
	fail    bool
	probes  int
}

func (f *fakeEdge) probe(hash string) (bool, error) {
	f.probes++
	if f.fail {
		return false, errors.New("connection refused")
	}
	ok := f.visible[hash]
	if f.after != nil {
		f.after(f.probes)
	}
	return ok, nil
}

func TestSoakRun_JudgeTx(t *testing.T) {
	r := &soakRun{synth: &Synth{Seed: 9}, first: []int{0, 3, 5}}
	h := r.hashOfPath
	tests := []struct {
		name string
		edge *fakeEdge
		want txVerdict
	}{
		{"whole", &fakeEdge{visible: map[string]bool{h(0): true, h(1): true, h(2): true}}, txWhole},
		{"torn", &fakeEdge{visible: map[string]bool{h(0): true, h(2): true}}, txTorn},
		{"whole once applied", &fakeEdge{visible: map[string]bool{}}, txWholeCaught},
		{"down", &fakeEdge{fail: true}, txInterrupted},
		// Only the first path is looked for first: the others missing
		// while it is missing too is no sign of anything.
		{"applied in the first path's order", &fakeEdge{visible: map[string]bool{h(1): true, h(2): true}}, txWholeCaught},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.edge
			if e.visible != nil && !e.visible[h(0)] {
				// The transaction shows after the second probe.
				e.after = func(n int) {
					if n == 2 {
						e.visible = map[string]bool{h(0): true, h(1): true, h(2): true}
					}
				}
			}
			if got := r.judgeTx(context.Background(), 0, e.probe); got != tc.want {
				t.Errorf("verdict %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSoakRun_CountLost(t *testing.T) {
	// Transactions of 2, 1, 3 and 2 paths.
	r := &soakRun{synth: &Synth{Seed: 9}, first: []int{0, 2, 3, 6, 8}}
	var e SoakEdge
	r.countLost(&e, []int{1, 3, 4, 5, 7})
	e.FirstLost = ""
	if diff := cmp.Diff(SoakEdge{Lost: 3, Partial: 2}, e); diff != "" {
		t.Errorf("lost paths 1, 3, 4, 5, 7 (-want +got):\n%s", diff)
	}
}

func TestLagPoller_Mark(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	// Commits 0-3 sent and acknowledged one after another; 4 overlaps 5.
	c := &committer{
		sends: []time.Duration{ms(0), ms(2), ms(4), ms(6), ms(8), ms(9)},
		acks:  []time.Duration{ms(1), ms(3), ms(5), ms(7), ms(11), ms(10)},
	}
	l := &lagPoller{firstSeen: make([]time.Duration, 6)}
	l.mark(c, 5, 6, ms(12))
	want := []time.Duration{ms(12), ms(12), ms(12), ms(12), 0, ms(12)}
	if diff := cmp.Diff(want, l.firstSeen); diff != "" || l.seen != 4 {
		t.Errorf("seen %d, first seen (-want +got):\n%s", l.seen, diff)
	}
	l.mark(c, 4, 6, ms(13))
	if l.seen != 6 || l.firstSeen[4] != ms(13) {
		t.Errorf("seen %d, path 4 first seen at %v", l.seen, l.firstSeen[4])
	}
}
