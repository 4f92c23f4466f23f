package replica

import (
	"hash/maphash"
	"sync"
)

// hotCache keeps recently served narinfo bodies, and lists of the copies
// of NAR files (under their location key prefix, which no narinfo key
// equals), in memory, so that a lookup of a popular path costs a map read
// instead of a walk through the LSM's levels and blocks. It holds copies:
// a body, once stored, never changes.
//
// It must never serve what the replica no longer holds. Writers invalidate
// every key a transaction touched after the transaction is durable; a reader
// that filled a miss from the replica stores the body only if no
// invalidation of its shard happened since it started reading, so a body
// read before a commit cannot be stored after that commit's invalidation.
type hotCache struct {
	seed     maphash.Seed
	maxBytes int // per shard
	shards   [hotShards]hotShard
	disabled bool
}

const hotShards = 64

type hotShard struct {
	mu    sync.RWMutex
	gen   uint64 // counts invalidations
	bytes int
	m     map[string][]byte
}

func newHotCache(maxBytes int) *hotCache {
	c := &hotCache{seed: maphash.MakeSeed(), maxBytes: maxBytes / hotShards, disabled: maxBytes <= 0}
	for i := range c.shards {
		c.shards[i].m = make(map[string][]byte)
	}
	return c
}

func (c *hotCache) shard(key []byte) *hotShard {
	return &c.shards[maphash.Bytes(c.seed, key)%hotShards]
}

// get returns the body cached for key and the shard's generation, to be
// passed to put when the body is not cached.
func (c *hotCache) get(key []byte) (body []byte, gen uint64, ok bool) {
	if c.disabled {
		return nil, 0, false
	}
	s := c.shard(key)
	s.mu.RLock()
	body, ok = s.m[string(key)]
	gen = s.gen
	s.mu.RUnlock()
	return body, gen, ok
}

// put stores a copy of body for key, unless the shard was invalidated since
// gen was read.
func (c *hotCache) put(key, body []byte, gen uint64) {
	if c.disabled || len(body) > c.maxBytes {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return
	}
	if _, ok := s.m[string(key)]; ok {
		return
	}
	for k, v := range s.m {
		if s.bytes+len(body) <= c.maxBytes {
			break
		}
		// Map iteration starts at a random entry: random eviction.
		delete(s.m, k)
		s.bytes -= len(k) + len(v)
	}
	s.m[string(key)] = append([]byte(nil), body...)
	s.bytes += len(key) + len(body)
}

// invalidate drops keys, after a transaction that wrote them is durable.
func (c *hotCache) invalidate(keys [][]byte) {
	for _, k := range keys {
		s := c.shard(k)
		s.mu.Lock()
		s.gen++
		if v, ok := s.m[string(k)]; ok {
			delete(s.m, string(k))
			s.bytes -= len(k) + len(v)
		}
		s.mu.Unlock()
	}
}

// clear drops everything, after a truncation.
func (c *hotCache) clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.gen++
		clear(s.m)
		s.bytes = 0
		s.mu.Unlock()
	}
}
