package loadtest

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
)

// MaxKeys bounds the keys of a lookup run (64 bytes of memory each).
const MaxKeys = 50_000_000

// Dist is how lookup picks keys.
type Dist string

const (
	DistUniform Dist = "uniform" // every key as likely
	DistZipf    Dist = "zipf"    // key i about (1+i)^-s as likely: a few popular paths, a long tail
)

// DefaultZipfExponent is the s of DistZipf when none is given.
const DefaultZipfExponent = 1.1

// keySet holds the hashes lookup asks for, hits and misses, each in one
// array so that picking one costs no allocation.
type keySet struct {
	n            int
	hits, misses []byte // n hashes of HashLen bytes each
}

// newKeySet computes Hash(seed, i) and MissHash(seed, i) for i < n, on
// every core.
func newKeySet(seed int64, n int) (*keySet, error) { return newPathKeySet(seed, n, nil) }

// newPathKeySet is newKeySet with the hit keys of the paths of hitPaths,
// when not nil, rather than the first n: hit key i is Hash(seed,
// hitPaths[i]), and n must be len(hitPaths).
func newPathKeySet(seed int64, n int, hitPaths []int) (*keySet, error) {
	if n < 1 || n > MaxKeys {
		return nil, fmt.Errorf("keys: %d is outside 1-%d", n, MaxKeys)
	}
	if hitPaths != nil && len(hitPaths) != n {
		return nil, fmt.Errorf("keys: %d hit paths for %d keys", len(hitPaths), n)
	}
	k := &keySet{n: n, hits: make([]byte, n*HashLen), misses: make([]byte, n*HashLen)}
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				// Appending to an empty slice of the array writes in place.
				p := i
				if hitPaths != nil {
					p = hitPaths[i]
				}
				appendHash(k.hits[i*HashLen:i*HashLen], domainHit, seed, int64(p))
				appendHash(k.misses[i*HashLen:i*HashLen], domainMiss, seed, int64(i))
			}
		})
	}
	wg.Wait()
	return k, nil
}

func (k *keySet) hit(i int) []byte  { return k.hits[i*HashLen : (i+1)*HashLen] }
func (k *keySet) miss(i int) []byte { return k.misses[i*HashLen : (i+1)*HashLen] }

// picker chooses the next key of one connection: a hit with probability
// hitRatio, else a miss, its index drawn from the distribution. Each
// connection has its own, seeded from the run's seed and the connection's
// number, so runs against several URLs ask the same questions.
type picker struct {
	keys     *keySet
	rng      *rand.Rand
	zipf     *rand.Zipf // nil for DistUniform
	hitRatio float64
}

func newPicker(keys *keySet, dist Dist, zipfS float64, hitRatio float64, seed int64, conn int) *picker {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(conn)+1))
	p := &picker{keys: keys, rng: rng, hitRatio: hitRatio}
	if dist == DistZipf {
		p.zipf = rand.NewZipf(rng, zipfS, 1, uint64(keys.n-1))
	}
	return p
}

// next returns the next key and whether it is a hit key.
func (p *picker) next() ([]byte, bool) {
	hit := p.rng.Float64() < p.hitRatio
	var i int
	if p.zipf != nil {
		i = int(p.zipf.Uint64())
	} else {
		i = p.rng.IntN(p.keys.n)
	}
	if hit {
		return p.keys.hit(i), true
	}
	return p.keys.miss(i), false
}
