package replica

import (
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
}

var locationScratches = sync.Pool{New: func() any { return &locationScratch{bounds: make([]byte, 0, 512)} }}

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
func (r *Replica) EachLocation(url []byte, fn func(s *Store, key []byte, st LocationState) bool) error {
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
		key, st := decodeLocation(it.Value())
		if !fn(s, key, st) {
			break
		}
	}
	return r.check(it.Close())
}
