package replication

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strconv"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/jackc/pglogrepl"
)

// Key layout of the replica. Every published row is one key:
//
//	<hash>                 narinfo body; the key is the 32-character hash itself
//	|<url>\x00<store id>   payload location key
//	}<store id>            store, JSON
//	\xff<name>             replica metadata
//
// A narinfo key is the request's own bytes, so a lookup builds no key. The
// other prefixes sort after every nixbase32 character, so narinfo keys are
// exactly the range [narinfoFirst, narinfoEnd).
const (
	prefixLocation = '|'
	prefixStore    = '}'
	prefixMeta     = 0xff
	narinfoFirst   = '0'
	narinfoEnd     = 'z' + 1
)

var (
	metaLSN          = []byte("\xfflsn")
	metaSlot         = []byte("\xffslot")
	metaSystem       = []byte("\xffsystem")
	metaBootstrapped = []byte("\xffbootstrapped")
)

// Store is a place that holds NAR files, as the edge sees it.
type Store struct {
	ID               int      `json:"id"`
	Name             string   `json:"name"`
	Kind             string   `json:"kind"`
	BaseURL          string   `json:"base_url"`
	Region           string   `json:"region"`
	Latitude         *float64 `json:"latitude,omitempty"`
	Longitude        *float64 `json:"longitude,omitempty"`
	DownloadPriority int      `json:"download_priority"`
	Policy           string   `json:"policy"`
}

// Readable reports whether clients may download from the store.
func (s *Store) Readable() bool { return s.Policy != "write_only" }

// Location is one store holding a NAR file under Key.
type Location struct {
	Store *Store
	Key   string
}

// URL is where a client downloads the file from.
func (l Location) URL() string { return l.Store.BaseURL + "/" + l.Key }

// Replica is the edge's local copy of the published tables. Reads are safe
// from any number of goroutines.
type Replica struct {
	db   *pebble.DB
	opts *pebble.Options
	dir  string
	hot  *hotCache
	// present holds every narinfo hash in the replica, and some more.
	present *presence
}

// blockCacheBytes sizes the LSM's cache of table blocks. It needs room for
// the index and filter blocks, about 1% of the replica; data blocks hold a
// handful of narinfos each, most of them cold, so memory spent on bodies
// goes further in the memory cache, which keeps only the ones served.
const blockCacheBytes = 32 << 20

// openReplica opens the replica in dir, with a memory cache of hotBytes of
// narinfo bodies; mustExist refuses to create one.
func openReplica(dir string, mustExist bool, hotBytes int) (*Replica, error) {
	opts := &pebble.Options{
		Cache:            pebble.NewCache(blockCacheBytes),
		ErrorIfNotExists: mustExist,
	}
	defer opts.Cache.Unref()
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	opts.Logger = quietLogger{}
	opts.EnsureDefaults()
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open replica %s: %w", dir, err)
	}
	r := &Replica{db: db, opts: opts, dir: dir, hot: newHotCache(hotBytes)}
	if err := r.loadPresence(); err != nil {
		db.Close()
		return nil, err
	}
	return r, nil
}

// minPresence is the least number of narinfos the presence filter is sized
// for; it is sized for twice the replica's narinfos when larger.
const minPresence = 4 << 20

// loadPresence builds the presence filter from the narinfo keys in one
// pass over them: their hashes are gathered first (8 bytes a key, for the
// while), then the filter is sized for their number and filled.
func (r *Replica) loadPresence() error {
	seed := maphash.MakeSeed()
	var hashes []uint64
	it, err := r.db.NewIter(&pebble.IterOptions{LowerBound: []byte{narinfoFirst}, UpperBound: []byte{narinfoEnd}})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		hashes = append(hashes, maphash.Bytes(seed, it.Key()))
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("read replica: %w", err)
	}
	p := newPresence(max(2*len(hashes), minPresence), seed)
	for _, h := range hashes {
		p.addHash(h)
	}
	r.present = p
	return nil
}

// Close closes the replica's store.
func (r *Replica) Close() error { return r.db.Close() }

// WriteNarinfo writes the narinfo body for hash to w and reports whether the
// replica has it. hash must be a valid store path hash.
func (r *Replica) WriteNarinfo(w io.Writer, hash []byte) (bool, error) {
	if !r.present.mayContain(hash) {
		return false, nil
	}
	body, gen, ok := r.hot.get(hash)
	if ok {
		_, err := w.Write(body)
		return err == nil, err
	}
	v, closer, err := r.db.Get(hash)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	r.hot.put(hash, v, gen)
	_, err = w.Write(v)
	return err == nil, err
}

// Narinfo returns a copy of the narinfo body for hash, or nil.
func (r *Replica) Narinfo(hash string) ([]byte, error) {
	v, closer, err := r.db.Get(narinfoKey([]byte(hash)))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte(nil), v...), nil
}

// Locations lists the stores holding the NAR file at url (relative to the
// cache root, as in a narinfo's URL field).
//
// It reads locations and stores from one snapshot, so a transaction that
// moves a file between stores is seen whole or not at all.
func (r *Replica) Locations(url string) ([]Location, error) {
	snap := r.db.NewSnapshot()
	defer snap.Close()
	prefix := locationPrefix(url)
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var locs []Location
	for it.First(); it.Valid(); it.Next() {
		id := string(it.Key()[len(prefix):])
		st, err := readStore(snap, id)
		if err != nil {
			return nil, err
		}
		if st == nil {
			continue
		}
		locs = append(locs, Location{Store: st, Key: string(it.Value())})
	}
	return locs, it.Error()
}

func readStore(snap *pebble.Snapshot, id string) (*Store, error) {
	v, closer, err := snap.Get(storeKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	var s Store
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, fmt.Errorf("decode store %s: %w", id, err)
	}
	return &s, nil
}

// Count returns the number of narinfos in the replica. It scans: for tests
// and tools, not for request paths.
func (r *Replica) Count() (int, error) {
	n := 0
	err := r.scan([]byte{narinfoFirst}, []byte{narinfoEnd}, func(_, _ []byte) error { n++; return nil })
	return n, err
}

// Narinfos calls fn for every narinfo in hash order.
func (r *Replica) Narinfos(fn func(hash string, body []byte) error) error {
	return r.scan([]byte{narinfoFirst}, []byte{narinfoEnd}, func(k, v []byte) error { return fn(string(k), v) })
}

func (r *Replica) scan(lower, upper []byte, fn func(k, v []byte) error) error {
	it, err := r.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
	}
	return it.Error()
}

// meta is what the replica records about itself.
type meta struct {
	LSN          pglogrepl.LSN
	Slot         string
	System       string
	Bootstrapped bool
}

// Meta returns the replica's applied LSN and the slot it follows.
func (r *Replica) Meta() (lsn pglogrepl.LSN, slot string, err error) {
	m, err := r.meta()
	return m.LSN, m.Slot, err
}

func (r *Replica) meta() (meta, error) {
	var m meta
	get := func(k []byte) ([]byte, error) {
		v, closer, err := r.db.Get(k)
		if errors.Is(err, pebble.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		defer closer.Close()
		return append([]byte(nil), v...), nil
	}
	v, err := get(metaLSN)
	if err != nil {
		return m, err
	}
	if len(v) == 8 {
		m.LSN = pglogrepl.LSN(binary.BigEndian.Uint64(v))
	}
	if v, err = get(metaSlot); err != nil {
		return m, err
	}
	m.Slot = string(v)
	if v, err = get(metaSystem); err != nil {
		return m, err
	}
	m.System = string(v)
	if v, err = get(metaBootstrapped); err != nil {
		return m, err
	}
	m.Bootstrapped = v != nil
	return m, nil
}

func setLSN(b *pebble.Batch, lsn pglogrepl.LSN) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(lsn))
	return b.Set(metaLSN, v[:], nil)
}

func narinfoKey(hash []byte) []byte { return hash }

func locationPrefix(url string) []byte {
	k := make([]byte, 0, len(url)+2)
	k = append(k, prefixLocation)
	k = append(k, url...)
	return append(k, 0)
}

func locationKey(url, storeID string) []byte { return append(locationPrefix(url), storeID...) }

func storeKey(id string) []byte { return append([]byte{prefixStore}, id...) }

// prefixEnd is the smallest key greater than every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// storeFromColumns builds the JSON value of a store row from its published
// columns (text format; absent or NULL columns are nil).
func storeFromColumns(col map[string][]byte) ([]byte, error) {
	s := Store{
		Name:    string(col["name"]),
		Kind:    string(col["kind"]),
		BaseURL: string(col["base_url"]),
		Region:  string(col["region"]),
		Policy:  string(col["policy"]),
	}
	var err error
	if s.ID, err = strconv.Atoi(string(col["id"])); err != nil {
		return nil, fmt.Errorf("store id %q: %w", col["id"], err)
	}
	if v := col["download_priority"]; v != nil {
		if s.DownloadPriority, err = strconv.Atoi(string(v)); err != nil {
			return nil, fmt.Errorf("store download_priority %q: %w", v, err)
		}
	}
	for name, dst := range map[string]**float64{"latitude": &s.Latitude, "longitude": &s.Longitude} {
		if v := col[name]; v != nil {
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return nil, fmt.Errorf("store %s %q: %w", name, v, err)
			}
			*dst = &f
		}
	}
	return json.Marshal(s)
}

// quietLogger drops Pebble's informational messages and keeps its errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	pebble.DefaultLogger.Errorf(format, args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	pebble.DefaultLogger.Fatalf(format, args...)
}
