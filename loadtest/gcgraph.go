package loadtest

import (
	"fmt"
	"math/rand/v2"
)

// gcGraph is the reference graph of a cache to collect: paths in upload
// order, each referencing earlier paths only, half of them live (reachable
// from an unexpired root) and half garbage. It is shaped like a cache that
// Hydra fills: a few bottom dependencies nearly every path needs (a libc,
// a compiler's runtime), a package set built again and again on top of
// them, each build of a package referencing its previous one and recent
// and long-lived libraries, and a few deep chains (bootstrap stages,
// language package ladders) hundreds of levels long. Garbage is old builds
// nobody pins any more: it references live paths as much as other garbage,
// but other garbage only of its own evaluation (the builds uploaded
// together), so that an upload referencing a garbage path revives that
// path's evaluation at most, not every older build.
type gcGraph struct {
	// start[i]:start[i+1] are the references of path i in to.
	start []int32
	to    []int32
	live  []bool
	deep  []bool // a link of a deep chain
	roots []gcRoot
	// Live counts the live paths; Depth is the longest distance, in
	// references, from a root to a live path: the levels a breadth-first
	// mark walks.
	Live, Depth int
}

// gcRoot is a root and the paths it pins.
type gcRoot struct {
	name     string
	paths    []int32
	expired  bool // expired a day ago: it protects nothing
	expiring bool // expires in a month: it protects until then
}

// The shape of the graph. Every count of a graph of n paths but the roots
// follows from n.
const (
	gcBase        = 64   // bottom dependencies; path 0 is the libc
	gcDeepChains  = 8    // half live, half garbage
	gcDeepLength  = 400  // paths in each deep chain at a million paths
	gcPathsPerPkg = 500  // paths per package whose builds chain together
	gcRecent      = 4000 // the window of recent paths a build references
	gcEvaluation  = 2000 // paths uploaded together, which garbage references among
)

func (g *gcGraph) refs(i int) []int32 { return g.to[g.start[i]:g.start[i+1]] }

// Paths is the number of paths.
func (g *gcGraph) Paths() int { return len(g.live) }

// References is the number of references.
func (g *gcGraph) References() int { return len(g.to) }

// newGCGraph makes the graph of n paths (at least 1,000) with about roots
// unexpired roots, drawn from seed.
func newGCGraph(n, roots int, seed int64) (*gcGraph, error) {
	if n < 1000 || n > MaxPopulateCount || roots < 1 || roots > n/10 {
		return nil, fmt.Errorf("gc graph: %d paths and %d roots: want at least 1000 paths and 1 to paths/10 roots", n, roots)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6763))
	g := &gcGraph{start: make([]int32, 1, n+1), to: make([]int32, 0, 5*n), live: make([]bool, n), deep: make([]bool, n)}
	deepLen := max(2, min(gcDeepLength, n/(2*gcBase)))
	deepLeft := gcDeepChains * deepLen
	regular := n - gcBase - deepLeft
	liveLeft := n/2 - gcBase - deepLeft/2 // regular live paths still to place
	pkgs := max(1, regular/gcPathsPerPkg)
	// The last path of each chain: deep chains first, then the packages'
	// live builds, then their garbage ones.
	last := make([]int32, gcDeepChains+2*pkgs)
	for k := range last {
		last[k] = -1
	}
	// The live paths so far, in order, but the deep chains' links: only
	// the next link references a link, so that a chain stays deep.
	var liveIdx []int32
	var cur []int32
	add := func(j int32) {
		for _, r := range cur {
			if r == j {
				return
			}
		}
		cur = append(cur, j)
	}
	// olderLive draws a live path skewed to the oldest: the long-lived
	// libraries many packages share.
	olderLive := func() int32 {
		u := rng.Float64()
		return liveIdx[int(float64(len(liveIdx))*u*u*u)]
	}
	// count draws how many of a kind of reference a path has, mean m.
	count := func(m float64) int { return int(rng.ExpFloat64()*m + 0.5) }
	deepSeen := 0
	for i := range n {
		cur = cur[:0]
		var live, isDeep bool
		switch {
		case i < gcBase:
			live = true
			if i > 0 {
				add(0)
			}
			if i > 1 {
				add(int32(i - 1))
				add(int32(rng.IntN(i)))
			}
		case deepLeft > 0 && rng.IntN(n-i) < deepLeft:
			// A link of a deep chain: its previous link, the libc and one
			// more bottom dependency (or, for garbage, a live library).
			c := deepSeen % gcDeepChains
			deepSeen++
			isDeep = true
			deepLeft--
			live = c < gcDeepChains/2
			if last[c] >= 0 {
				add(last[c])
			}
			last[c] = int32(i)
			add(0)
			if live {
				add(int32(rng.IntN(gcBase)))
			} else {
				add(olderLive())
			}
		default:
			live = rng.IntN(regular) < liveLeft
			regular--
			if live {
				liveLeft--
			}
			if rng.Float64() < 0.95 {
				add(0)
			}
			for range count(0.8) {
				u := rng.Float64()
				add(int32(float64(gcBase) * u * u))
			}
			pkg := gcDeepChains + rng.IntN(pkgs)
			eval := i - i%gcEvaluation // the first path of its evaluation
			if !live {
				pkg += pkgs
			}
			if last[pkg] >= 0 && (live || int(last[pkg]) >= eval) {
				add(last[pkg])
			}
			last[pkg] = int32(i)
			for range count(1.5) {
				// Built together: a recent live path, or for garbage
				// half the time a path of its own evaluation.
				if live || i == eval || rng.IntN(2) == 0 {
					add(liveIdx[len(liveIdx)-1-rng.IntN(min(len(liveIdx), gcRecent))])
				} else {
					add(int32(eval + rng.IntN(i-eval)))
				}
			}
			// Long-lived libraries: garbage, which has lost its previous
			// build, has more of them.
			older := 1.0
			if !live {
				older = 1.8
			}
			for range count(older) {
				add(olderLive())
			}
		}
		g.live[i], g.deep[i] = live, isDeep
		if live {
			g.Live++
			if !isDeep {
				liveIdx = append(liveIdx, int32(i))
			}
		}
		g.to = append(g.to, cur...)
		g.start = append(g.start, int32(len(g.to)))
	}
	g.roots = g.pin(rng, liveIdx, roots)
	g.Depth = g.depth()
	return g, nil
}

// pin makes the roots: every live path no live path references (the last
// build of each package and of each live deep chain) is pinned by one of
// a few release channels, which pin several paths each; the other roots
// are CI pins of one to three live paths of liveIdx, a tenth of them
// expiring in the future. A tenth as many again pinned garbage and
// expired a day ago.
func (g *gcGraph) pin(rng *rand.Rand, liveIdx []int32, roots int) []gcRoot {
	referenced := make([]bool, len(g.live))
	for i, live := range g.live {
		if live {
			for _, j := range g.refs(i) {
				referenced[j] = true
			}
		}
	}
	channels := max(1, roots/20)
	rs := make([]gcRoot, 0, roots+roots/10+1)
	for k := range channels {
		rs = append(rs, gcRoot{name: fmt.Sprintf("channel/%d", k)})
	}
	top := 0
	for i, live := range g.live {
		if live && !referenced[i] {
			c := &rs[top%channels]
			c.paths = append(c.paths, int32(i))
			top++
		}
	}
	for k := channels; k < roots; k++ {
		r := gcRoot{name: fmt.Sprintf("ci/%d", k), expiring: k%10 == 0}
		for range 1 + rng.IntN(3) {
			r.paths = appendNew(r.paths, liveIdx[rng.IntN(len(liveIdx))])
		}
		rs = append(rs, r)
	}
	for k := range max(1, roots/10) {
		r := gcRoot{name: fmt.Sprintf("ci/expired-%d", k), expired: true}
		for range 1 + rng.IntN(3) {
			for {
				j := int32(rng.IntN(len(g.live)))
				if !g.live[j] {
					r.paths = appendNew(r.paths, j)
					break
				}
			}
		}
		rs = append(rs, r)
	}
	return rs
}

func appendNew(s []int32, v int32) []int32 {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// reachable marks what the unexpired roots reach, breadth first, and
// returns it with the number of levels below the roots.
func (g *gcGraph) reachable() ([]bool, int) {
	seen := make([]bool, len(g.live))
	var frontier, next []int32
	for _, r := range g.roots {
		if r.expired {
			continue
		}
		for _, p := range r.paths {
			if !seen[p] {
				seen[p] = true
				frontier = append(frontier, p)
			}
		}
	}
	levels := 0
	for ; len(frontier) > 0; levels++ {
		next = next[:0]
		for _, p := range frontier {
			for _, j := range g.refs(int(p)) {
				if !seen[j] {
					seen[j] = true
					next = append(next, j)
				}
			}
		}
		frontier, next = next, frontier
	}
	return seen, levels - 1
}

func (g *gcGraph) depth() int {
	_, d := g.reachable()
	return d
}

// intRefs is the references of path i as populate's paths hold them.
func (g *gcGraph) intRefs(i int) []int {
	r := g.refs(i)
	out := make([]int, len(r))
	for k, j := range r {
		out[k] = int(j)
	}
	return out
}
