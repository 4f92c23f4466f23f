package analytics

import (
	"bytes"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is what a count counts.
type Kind uint8

const (
	// Hit is a narinfo answered 200; its key is the 32-character hash.
	Hit Kind = iota + 1
	// Miss is a narinfo answered 404; its key is the hash asked for.
	Miss
	// Redirect is a NAR download sent to a store; its key is the NAR
	// file's URL. Its bytes are the file's size, which the origin knows.
	Redirect
	// Client is a request by a client family; its key names the family
	// ("nix/2.8.0", "guix", "curl", "other").
	Client
	kinds = Client + 1
)

// String names a kind as the database does.
func (k Kind) String() string {
	switch k {
	case Hit:
		return "hit"
	case Miss:
		return "miss"
	case Redirect:
		return "redirect"
	case Client:
		return "client"
	}
	return "unknown"
}

// OtherKey is the key of the counts of a kind that found no room: the
// table was full, or the key too long.
const OtherKey = "other"

// Key is what a count is of: a kind, a key of that kind, a country (ISO
// 3166 code, "" when unknown) and an hour (Unix time / 3600).
type Key struct {
	Kind    Kind
	Key     string
	Country string
	Hour    int64
}

// Count is the number of requests of a Key.
type Count struct {
	Key
	Requests uint64
}

// Defaults of Config.
const (
	// DefaultMaxKeys bounds the keys counted at once: 65,536 slots take
	// about 6 MiB beside their keys, and an edge sees far fewer
	// distinct paths in one flush interval.
	DefaultMaxKeys = 1 << 16
	// MaxKeyLen is the longest key counted as itself: a NAR file's URL
	// of Nix is 64 bytes, one of Guix at most about 260.
	MaxKeyLen = 255
)

// Counter counts requests by Key in memory, for Drain to take out. Add,
// on the edge's lookup path, allocates nothing and takes no lock: a key
// is found or claimed in an open-addressing table with atomic operations
// alone, and its counts are atomic adds. Past its room (MaxKeys keys, or
// their bytes) a request counts under OtherKey of its kind and country.
type Counter struct {
	seed maphash.Seed

	mu sync.Mutex // held by Drain: one drain at a time
	// cur takes the counts; spare is the table the next rotation moves
	// to, empty and used by nobody.
	cur   atomic.Pointer[table]
	spare *table
	// hour is the current hour (Unix time / 3600), kept by the flusher
	// so that a request need not read the clock.
	hour atomic.Int64
}

// Hour is the current hour, as requests count it.
func (c *Counter) Hour() int64 { return c.hour.Load() }

func (c *Counter) setHour(now time.Time) { c.hour.Store(now.Unix() / 3600) }

// New makes a counter of at most maxKeys keys (DefaultMaxKeys when 0).
func New(maxKeys int) *Counter {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	c := &Counter{seed: maphash.MakeSeed()}
	c.cur.Store(newTable(maxKeys))
	c.spare = newTable(maxKeys)
	c.setHour(time.Now())
	return c
}

// table is an open-addressing hash table of slots, twice as many as the
// keys it takes so that probes stay short, with the keys' bytes in an
// arena.
type table struct {
	slots   []slot
	mask    uint64
	maxKeys int64
	keys    atomic.Int64 // slots claimed
	// writers counts the Adds under way in the table, so that a
	// rotation knows when the table it left is no longer written to.
	writers atomic.Int64
	arena   []byte
	used    atomic.Int64 // arena bytes taken
	// other counts, by kind and country, what found no room.
	other sync.Map // otherKey -> *slot; rare, allocates
	full  atomic.Bool
}

type otherKey struct {
	kind    Kind
	country [2]byte
	hour    int64
}

// slot is one key's counts. tag is 0 while the slot is free; a writer
// that claims it stores its key's hash there, fills the key, then sets
// ready, after which the key never changes until the table is cleared.
type slot struct {
	tag      atomic.Uint64
	ready    atomic.Bool
	kind     Kind
	country  [2]byte
	keyLen   uint8
	keyOff   uint32
	hour     int64
	requests atomic.Uint64
}

// maxProbes bounds the slots a key looks at before it counts as other.
const maxProbes = 16

func newTable(maxKeys int) *table {
	n := uint64(1)
	for n < 2*uint64(maxKeys) {
		n <<= 1
	}
	return &table{
		slots:   make([]slot, n),
		mask:    n - 1,
		maxKeys: int64(maxKeys),
		arena:   make([]byte, maxKeys*80),
	}
}

// Add counts a request of kind for key from country (two letters, or
// zero when unknown) in hour. key is copied when it is new.
func (c *Counter) Add(kind Kind, key []byte, country [2]byte, hour int64) {
	t := c.cur.Load()
	for {
		// Entered, then checked: a rotation that left t either sees
		// this Add under way and waits for it, or this Add sees the
		// rotation and goes to the new table.
		t.writers.Add(1)
		if now := c.cur.Load(); now != t {
			t.writers.Add(-1)
			t = now
			continue
		}
		break
	}
	s := t.find(c.seed, kind, key, country, hour)
	s.requests.Add(1)
	t.writers.Add(-1)
}

func (t *table) find(seed maphash.Seed, kind Kind, key []byte, country [2]byte, hour int64) *slot {
	if len(key) > MaxKeyLen {
		return t.otherSlot(kind, country, hour)
	}
	// The key's hash, with the kind, country and hour mixed in.
	tag := maphash.Bytes(seed, key) ^ (uint64(kind)<<56 | uint64(country[0])<<48 | uint64(country[1])<<40)
	tag = (tag ^ uint64(hour)*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9
	tag |= 1
	i := tag & t.mask
	for range maxProbes {
		s := &t.slots[i]
		switch got := s.tag.Load(); {
		case got == tag:
			for !s.ready.Load() {
				runtime.Gosched() // its claimer is filling in the key
			}
			if s.kind == kind && s.country == country && s.hour == hour &&
				bytes.Equal(t.arena[s.keyOff:s.keyOff+uint32(s.keyLen)], key) {
				return s
			}
		case got == 0:
			if t.full.Load() {
				return t.otherSlot(kind, country, hour)
			}
			if t.keys.Add(1) > t.maxKeys {
				t.full.Store(true)
				return t.otherSlot(kind, country, hour)
			}
			end := t.used.Add(int64(len(key)))
			if end > int64(len(t.arena)) {
				t.full.Store(true)
				return t.otherSlot(kind, country, hour)
			}
			if !s.tag.CompareAndSwap(0, tag) {
				// Taken meanwhile: look at it again.
				if s.tag.Load() != tag {
					i = (i + 1) & t.mask
				}
				continue
			}
			off := end - int64(len(key))
			copy(t.arena[off:end], key)
			s.kind, s.country, s.hour = kind, country, hour
			s.keyOff, s.keyLen = uint32(off), uint8(len(key))
			s.ready.Store(true)
			return s
		}
		i = (i + 1) & t.mask
	}
	return t.otherSlot(kind, country, hour)
}

// otherSlot is the slot of what found no room. It allocates the first time
// a kind, country and hour find none.
func (t *table) otherSlot(kind Kind, country [2]byte, hour int64) *slot {
	k := otherKey{kind, country, hour}
	if s, ok := t.other.Load(k); ok {
		return s.(*slot)
	}
	s, _ := t.other.LoadOrStore(k, &slot{kind: kind, country: country, hour: hour})
	return s.(*slot)
}

// Drain takes every count out of the counter, calling emit with each
// non-zero one. A count added meanwhile is taken by this Drain or the
// next, never by two. When rotate is set (a new hour) or the table is more
// than half full, counting moves to an empty table, and the one it left is
// drained once no Add is under way in it, and cleared for the next
// rotation.
func (c *Counter) Drain(rotate bool, emit func(Count)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.cur.Load()
	if !rotate && cur.keys.Load() <= cur.maxKeys/2 && !cur.full.Load() {
		cur.drain(emit)
		return
	}
	c.cur.Store(c.spare)
	for cur.writers.Load() != 0 {
		runtime.Gosched() // Adds take nanoseconds
	}
	cur.drain(emit)
	cur.clear()
	c.spare = cur
}

func (t *table) drain(emit func(Count)) {
	take := func(s *slot, key string) {
		r := s.requests.Swap(0)
		if r == 0 {
			return
		}
		country := ""
		if s.country != [2]byte{} {
			country = string(s.country[:])
		}
		emit(Count{Key: Key{Kind: s.kind, Key: key, Country: country, Hour: s.hour}, Requests: r})
	}
	for i := range t.slots {
		s := &t.slots[i]
		if !s.ready.Load() || s.requests.Load() == 0 {
			continue
		}
		take(s, string(t.arena[s.keyOff:s.keyOff+uint32(s.keyLen)]))
	}
	t.other.Range(func(_, v any) bool {
		take(v.(*slot), OtherKey)
		return true
	})
}

func (t *table) clear() {
	for i := range t.slots {
		t.slots[i] = slot{}
	}
	t.keys.Store(0)
	t.used.Store(0)
	t.full.Store(false)
	t.other.Clear()
}
