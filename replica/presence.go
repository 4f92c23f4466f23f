package replica

import (
	"hash/maphash"
	"sync/atomic"
)

// presence is a Bloom filter over the narinfo hashes in the replica, so
// that most misses, the common answer, are settled in memory without a
// replica read. A key is added before the write that stores it is committed,
// so a stored narinfo is never reported absent. Deleted keys stay in the
// filter and cost only a replica read; the filter is rebuilt when the replica
// is opened.
type presence struct {
	seed     maphash.Seed
	bits     []atomic.Uint64
	k        uint64
	capacity int
}

// presenceBitsPerKey gives about a 1% false-positive rate at capacity.
const presenceBitsPerKey = 10

// newPresence makes a filter for capacity keys, hashing with seed.
func newPresence(capacity int, seed maphash.Seed) *presence {
	words := max(capacity*presenceBitsPerKey/64, 1024)
	return &presence{seed: seed, bits: make([]atomic.Uint64, words), k: 7, capacity: capacity}
}

// probes derives the filter's bit positions from a key's 64-bit hash by
// double hashing.
func (p *presence) probes(h uint64) (h1, h2, n uint64) {
	return h, h>>32 | h<<32 | 1, uint64(len(p.bits)) * 64
}

func (p *presence) add(key []byte) { p.addHash(maphash.Bytes(p.seed, key)) }

// addHash adds the key whose hash with the filter's seed is h.
func (p *presence) addHash(h uint64) {
	h1, h2, n := p.probes(h)
	for i := range p.k {
		bit := (h1 + i*h2) % n
		p.bits[bit/64].Or(1 << (bit % 64))
	}
}

// mayContain is false only for keys never added.
func (p *presence) mayContain(key []byte) bool {
	h1, h2, n := p.probes(maphash.Bytes(p.seed, key))
	for i := range p.k {
		bit := (h1 + i*h2) % n
		if p.bits[bit/64].Load()&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

// allPresent is a filter that reports every key present: for a replica
// whose keys could not all be read.
func allPresent(seed maphash.Seed) *presence {
	p := newPresence(0, seed)
	for i := range p.bits {
		p.bits[i].Store(^uint64(0))
	}
	return p
}
