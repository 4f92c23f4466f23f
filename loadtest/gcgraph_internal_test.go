package loadtest

import "testing"

func TestNewGCGraph_Shape(t *testing.T) {
	t.Parallel()
	const n, roots = 20_000, 200
	g, err := newGCGraph(n, roots, 3)
	if err != nil {
		t.Fatal(err)
	}
	if g.Paths() != n || g.Live != n/2 {
		t.Fatalf("%d paths, %d live; want %d and %d", g.Paths(), g.Live, n, n/2)
	}
	if mean := float64(g.References()) / n; mean < 4 || mean > 6 {
		t.Errorf("%.2f references per path, want about 5", mean)
	}
	// Upload order is a topological order: every reference is to an
	// earlier path, and a live path references only live ones.
	garbageOnLive, referrersOfLibc := 0, 0
	for i := range n {
		onLive := false
		for _, j := range g.refs(i) {
			if int(j) >= i {
				t.Fatalf("path %d references path %d, not an earlier one", i, j)
			}
			if g.live[i] && !g.live[j] {
				t.Fatalf("live path %d references garbage %d", i, j)
			}
			onLive = onLive || g.live[j]
			if j == 0 {
				referrersOfLibc++
			}
		}
		if !g.live[i] && onLive {
			garbageOnLive++
		}
	}
	if garbageOnLive < n/4 {
		t.Errorf("%d garbage paths reference live ones, want most of %d", garbageOnLive, n/2)
	}
	// A garbage path references garbage of its own evaluation only, but
	// for the links of deep chains.
	for i := range n {
		if g.live[i] || g.deep[i] {
			continue
		}
		for _, j := range g.refs(i) {
			if !g.live[j] && !g.deep[j] && int(j)/gcEvaluation != i/gcEvaluation {
				t.Fatalf("garbage path %d references garbage %d of another evaluation", i, j)
			}
		}
	}
	if referrersOfLibc < n*8/10 {
		t.Errorf("%d paths reference path 0, want most", referrersOfLibc)
	}
	seen, levels := g.reachable()
	reached := 0
	for i, s := range seen {
		if s != g.live[i] {
			t.Fatalf("path %d: reachable %v, live %v", i, s, g.live[i])
		}
		if s {
			reached++
		}
	}
	if reached != n/2 {
		t.Errorf("roots reach %d paths, want %d", reached, n/2)
	}
	if levels < 100 {
		t.Errorf("a mark walks %d levels, want deep chains of over 100", levels)
	}
	unexpired, expired := 0, 0
	for _, r := range g.roots {
		if r.expired {
			expired++
		} else {
			unexpired++
		}
		if len(r.paths) == 0 {
			t.Errorf("root %s pins nothing", r.name)
		}
	}
	if unexpired != roots || expired == 0 {
		t.Errorf("%d unexpired roots and %d expired, want %d and some", unexpired, expired, roots)
	}
}

func BenchmarkNewGCGraph(b *testing.B) {
	for b.Loop() {
		if _, err := newGCGraph(1_000_000, 2000, 1); err != nil {
			b.Fatal(err)
		}
	}
}
