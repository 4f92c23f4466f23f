package replica

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// LocationState is what is known of one stored copy of a NAR file.
type LocationState uint8

// The states of payload_location.state. Only a good copy is downloaded
// from.
const (
	// LocationGood is a copy whose bytes are believed to hash right; a
	// row replicated before locations had a state is good.
	LocationGood LocationState = iota
	// LocationMissing is a copy its store was found not to have.
	LocationMissing
	// LocationCorrupt is a copy whose bytes were found not to hash right.
	LocationCorrupt
	// LocationUnknown is a state this replica has no name for, from a
	// newer origin: not vouched for, so never downloaded from.
	LocationUnknown
)

func (s LocationState) String() string {
	switch s {
	case LocationGood:
		return "good"
	case LocationMissing:
		return "missing"
	case LocationCorrupt:
		return "corrupt"
	}
	return "unknown"
}

func parseLocationState(v []byte) LocationState {
	switch string(v) {
	case "", "good": // absent: a row from before locations had a state
		return LocationGood
	case "missing":
		return LocationMissing
	case "corrupt":
		return LocationCorrupt
	}
	return LocationUnknown
}

// A location's value is its key in the store, as it always was, when the
// copy is good; otherwise a NUL byte, the state, then the key. A key is a
// PostgreSQL text value, which never holds a NUL byte, so the two cannot
// be confused, replicas written before locations had a state read as all
// good, and reading the common case costs one byte comparison.
const stateMarker = 0

// locationValue builds the stored value of a payload_location row.
func locationValue(col map[string][]byte) ([]byte, error) {
	key := col["key"]
	if len(key) > 0 && key[0] == stateMarker {
		return nil, fmt.Errorf("payload_location key %q starts with a NUL byte", key)
	}
	st := parseLocationState(col["state"])
	if st == LocationGood {
		return key, nil
	}
	v := make([]byte, 0, 2+len(key))
	v = append(v, stateMarker, byte(st))
	return append(v, key...), nil
}

// decodeLocation splits a location's stored value into the key and state.
func decodeLocation(v []byte) ([]byte, LocationState) {
	if len(v) >= 2 && v[0] == stateMarker {
		st := LocationState(v[1])
		if st > LocationUnknown {
			st = LocationUnknown
		}
		return v[2:], st
	}
	return v, LocationGood
}

// locationScratch is what one Locations call needs besides the iterator,
// kept for the next call so that a redirect allocates nothing.
type locationScratch struct {
	bounds []byte
	opts   pebble.IterOptions
	// list is the file's copies as the memory cache keeps them.
	list []byte
}

var locationScratches = sync.Pool{New: func() any {
	return &locationScratch{bounds: make([]byte, 0, 512), list: make([]byte, 0, 512)}
}}

// Locations calls fn with each store that holds a good copy of the NAR
// file at url (relative to the cache root and matched byte for byte, as in
// a narinfo's URL field) and the file's key in that store, in store id
// order, until fn returns false. key is valid only during fn. It allocates
// nothing.
func (r *Replica) Locations(url []byte, fn func(s *Store, key []byte) bool) error {
	return r.EachLocation(url, func(s *Store, key []byte, st LocationState) bool {
		return st != LocationGood || fn(s, key)
	})
}

// EachLocation is Locations with every copy, good or not, and its state.
//
// The copies of a file are kept in the memory cache beside the narinfo
// bodies, under the prefix of their keys, as one list (listLocations): a
// redirect of a popular file then costs a map read, not an iterator over
// the LSM's levels, which costs several times a narinfo lookup. A
// transaction that writes a copy of a file drops its list (Txn).
func (r *Replica) EachLocation(url []byte, fn func(s *Store, key []byte, st LocationState) bool) error {
	sc := locationScratches.Get().(*locationScratch)
	defer locationScratches.Put(sc)
	b := appendLocationPrefix(sc.bounds[:0], url)
	n := len(b)
	sc.bounds = b
	// A store row is in the map before the first location that names it
	// is visible, and leaves it only after the last is gone (see Txn).
	stores := *r.stores.Load()
	list, gen, ok := r.hot.get(b[:n])
	if !ok {
		var err error
		if list, err = r.listLocations(sc, n); err != nil {
			return err
		}
		r.hot.put(sc.bounds[:n], list, gen)
	}
	for len(list) > 0 {
		var id, v []byte
		id, list = nextField(list)
		v, list = nextField(list)
		s := stores[string(id)]
		if s == nil {
			continue
		}
		key, st := decodeLocation(v)
		if !fn(s, key, st) {
			break
		}
	}
	return nil
}

// listLocations reads the copies of the file whose location keys start
// with sc.bounds[:n] into sc.list: each the store id and the value, each
// preceded by its length.
func (r *Replica) listLocations(sc *locationScratch, n int) ([]byte, error) {
	sc.bounds = appendPrefixEnd(sc.bounds[:n], sc.bounds[:n])
	b := sc.bounds
	sc.opts = pebble.IterOptions{LowerBound: b[:n], UpperBound: b[n:]}
	it, err := r.db.NewIter(&sc.opts)
	if err != nil {
		return nil, r.check(err)
	}
	list := sc.list[:0]
	for it.First(); it.Valid(); it.Next() {
		list = appendField(list, it.Key()[n:])
		list = appendField(list, it.Value())
	}
	sc.list = list
	return list, r.check(it.Close())
}

func appendField(dst, f []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(f)))
	return append(dst, f...)
}

// nextField splits the first field off list; a list cut short ends.
func nextField(list []byte) (f, rest []byte) {
	n, w := binary.Uvarint(list)
	if w <= 0 || n > uint64(len(list)-w) {
		return nil, nil
	}
	end := w + int(n)
	return list[w:end], list[end:]
}
