package replica

import (
	"errors"
	"io"

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
	if withdrawn(v) {
		return false, nil
	}
	r.hot.put(hash, v, gen)
	_, err = w.Write(v)
	return err == nil, err
}

// Narinfos calls fn for every narinfo in service (not withdrawn), in hash
// order, from one view of the replica. It reads the whole replica: for
// tools and tests, not requests.
func (r *Replica) Narinfos(fn func(hash string, body []byte) error) error {
	it, err := r.db.NewIter(&pebble.IterOptions{LowerBound: []byte{narinfoFirst}, UpperBound: []byte{narinfoEnd}})
	if err != nil {
		return r.check(err)
	}
	for it.First(); it.Valid(); it.Next() {
		if withdrawn(it.Value()) {
			continue
		}
		if err := fn(string(it.Key()), it.Value()); err != nil {
			it.Close()
			return err
		}
	}
	return r.check(it.Close())
}
