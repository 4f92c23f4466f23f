package replica

import (
	"errors"
	"io"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// WriteNarinfo writes the narinfo body for hash to w and reports whether the
// replica has it. hash must be a valid store path hash. A hit from the
// memory cache or the store, and a miss, allocate nothing.
func (r *Replica) WriteNarinfo(w io.Writer, hash []byte) (bool, error) {
	if !r.present.mayContain(hash) {
		return false, nil
	}
	body, gen, ok := r.hot.get(hash)
	if ok {
		_, err := w.Write(body)
		return err == nil, err
	}
	v, closer, err := r.db.Get(narinfoKey(hash))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, r.check(err)
	}
	defer closer.Close()
	r.hot.put(hash, v, gen)
	_, err = w.Write(v)
	return err == nil, err
}

// locationScratch is what one Locations call needs besides the iterator,
// kept for the next call so that a redirect allocates nothing.
type locationScratch struct {
	bounds []byte
	opts   pebble.IterOptions
}

var locationScratches = sync.Pool{New: func() any { return &locationScratch{bounds: make([]byte, 0, 512)} }}

// Locations calls fn with each store that holds the NAR file at url
// (relative to the cache root and matched byte for byte, as in a narinfo's
// URL field) and the file's key in that store, in store id order, until fn
// returns false. key is valid only during fn. It allocates nothing.
func (r *Replica) Locations(url []byte, fn func(s *Store, key []byte) bool) error {
	sc := locationScratches.Get().(*locationScratch)
	defer locationScratches.Put(sc)
	b := appendLocationPrefix(sc.bounds[:0], url)
	n := len(b)
	b = appendPrefixEnd(b, b[:n])
	sc.bounds = b
	sc.opts = pebble.IterOptions{LowerBound: b[:n], UpperBound: b[n:]}
	// A store row is in the map before the first location that names it
	// is visible, and leaves it only after the last is gone (see Txn).
	stores := *r.stores.Load()
	it, err := r.db.NewIter(&sc.opts)
	if err != nil {
		return r.check(err)
	}
	for it.First(); it.Valid(); it.Next() {
		s := stores[string(it.Key()[n:])]
		if s == nil {
			continue
		}
		if !fn(s, it.Value()) {
			break
		}
	}
	return r.check(it.Close())
}

// Narinfos calls fn for every narinfo in hash order, from one view of the
// replica. It reads the whole replica: for tools and tests, not requests.
func (r *Replica) Narinfos(fn func(hash string, body []byte) error) error {
	it, err := r.db.NewIter(&pebble.IterOptions{LowerBound: []byte{narinfoFirst}, UpperBound: []byte{narinfoEnd}})
	if err != nil {
		return r.check(err)
	}
	for it.First(); it.Valid(); it.Next() {
		if err := fn(string(it.Key()), it.Value()); err != nil {
			it.Close()
			return err
		}
	}
	return r.check(it.Close())
}
