package replica

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// Key layout of the replica. Every published row is one key:
//
//	<hash>                 narinfo body; the key is the 32-character hash itself
//	|<url>\x00<store id>   payload location: its key in the store, and its state (location.go)
//	}<store id>            store, JSON
//	\xff<name>             replica metadata (state.go)
//
// A narinfo key is the request's own bytes, so a lookup builds no key. The
// other prefixes sort after every nixbase32 character, so narinfo keys are
// exactly the range [narinfoFirst, narinfoEnd).
const (
	prefixLocation = '|'
	prefixStore    = '}'
	narinfoFirst   = '0'
	narinfoEnd     = 'z' + 1
)

// DefaultMemoryCacheBytes is the default size of the memory cache of served
// narinfo bodies: room for the popular paths of a large cache.
const DefaultMemoryCacheBytes = 96 << 20

// blockCacheBytes sizes the LSM's cache of table blocks. It needs room for
// the index and filter blocks, about 1% of the replica; data blocks hold a
// handful of narinfos each, most of them cold, so memory spent on bodies
// goes further in the memory cache, which keeps only the ones served.
const blockCacheBytes = 32 << 20

// minPresence is the least number of narinfos the presence filter is sized
// for; it is sized for twice the replica's narinfos when larger.
const minPresence = 4 << 20

var (
	// ErrCorrupt marks a read that failed because a table of the replica
	// is corrupt on disk. The replica should be rebuilt.
	ErrCorrupt = errors.New("replica corrupt")
	// ErrNotBootstrapped means Open found a replica whose bootstrap never
	// finished.
	ErrNotBootstrapped = errors.New("replica not bootstrapped")
)

// Options configures a replica. The zero value works.
type Options struct {
	// MemoryCacheBytes bounds the memory cache of recently served narinfo
	// bodies and NAR locations; zero or negative turns it off.
	MemoryCacheBytes int
	// OnCorruption, if set, is called once, from the goroutine that found
	// it, the first time the replica finds a table it cannot read.
	OnCorruption func(error)
	// Logger receives the replica's one corruption report and Pebble's
	// errors. Default slog.Default().
	Logger *slog.Logger
}

// Replica is the edge's local copy of the published tables. Reads are safe
// from any number of goroutines; writes come from one writer at a time.
type Replica struct {
	db   *pebble.DB
	opts *pebble.Options
	dir  string
	log  *slog.Logger
	hot  *hotCache
	// present holds every narinfo hash in the replica, and some more.
	present *presence
	// stores is every store row, decoded, by id.
	stores atomic.Pointer[map[string]*Store]
	// lastCommit is the origin commit time of the last applied
	// transaction, in Unix nanoseconds, written with every position.
	lastCommit atomic.Int64

	corrupt      atomic.Bool
	corruptOnce  sync.Once
	onCorruption func(error)
}

// Open opens a replica bootstrapped before in dir.
func Open(dir string, o Options) (*Replica, error) {
	r, err := open(dir, true, o)
	if err != nil {
		return nil, err
	}
	st, err := r.State()
	if err == nil && !st.Bootstrapped {
		err = ErrNotBootstrapped
	}
	if err == nil {
		err = r.loadStores()
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("open replica %s: %w", dir, err)
	}
	if !st.LastCommit.IsZero() {
		r.lastCommit.Store(st.LastCommit.UnixNano())
	}
	return r, nil
}

// Create makes an empty replica in dir, to be filled by Load.
func Create(dir string, o Options) (*Replica, error) {
	return open(dir, false, o)
}

func open(dir string, mustExist bool, o Options) (*Replica, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	r := &Replica{dir: dir, log: o.Logger, hot: newHotCache(o.MemoryCacheBytes), onCorruption: o.OnCorruption}
	r.stores.Store(&map[string]*Store{})
	opts := &pebble.Options{
		Cache:            pebble.NewCache(blockCacheBytes),
		ErrorIfNotExists: mustExist,
		Logger:           pebbleLogger{r.log},
	}
	defer opts.Cache.Unref()
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	// Pebble's default answer to a corrupt table is to end the process.
	// A replica is a copy: it reports the corruption, answers the reads it
	// cannot serve with an error, and is rebuilt.
	opts.EventListener = &pebble.EventListener{
		DataCorruption: func(info pebble.DataCorruptionInfo) { r.corruption(info.Details) },
	}
	opts.EnsureDefaults()
	db, err := pebble.Open(dir, opts)
	if err != nil {
		if pebble.IsCorruptionError(err) {
			err = fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return nil, fmt.Errorf("open replica %s: %w", dir, err)
	}
	r.db, r.opts = db, opts
	if err := r.loadPresence(); err != nil {
		db.Close()
		return nil, err
	}
	return r, nil
}

// corruption records that the replica found a table it cannot read: the
// first time, it logs it and tells OnCorruption.
func (r *Replica) corruption(err error) {
	r.corrupt.Store(true)
	r.corruptOnce.Do(func() {
		r.log.Error("replica corrupt on disk; it must be rebuilt", "replica", r.dir, "err", err.Error())
		if r.onCorruption != nil {
			r.onCorruption(err)
		}
	})
}

// Corrupt reports whether the replica found a table it cannot read.
func (r *Replica) Corrupt() bool { return r.corrupt.Load() }

// check turns a read error into one that says what it means: corruption is
// recorded and marked ErrCorrupt.
func (r *Replica) check(err error) error {
	if err == nil || !pebble.IsCorruptionError(err) {
		return err
	}
	r.corruption(err)
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}

// Dir is the replica's directory.
func (r *Replica) Dir() string { return r.dir }

// Close closes the replica's store.
func (r *Replica) Close() error { return r.db.Close() }

// loadPresence builds the presence filter from the narinfo keys in one
// pass over them: their hashes are gathered first (8 bytes a key, for the
// while), then the filter is sized for their number and filled. If a table
// cannot be read, the filter lets every key through, so that what can be
// read is still served.
func (r *Replica) loadPresence() error {
	seed := maphash.MakeSeed()
	var hashes []uint64
	it, err := r.db.NewIter(&pebble.IterOptions{LowerBound: []byte{narinfoFirst}, UpperBound: []byte{narinfoEnd}})
	if err != nil {
		return r.check(err)
	}
	for it.First(); it.Valid(); it.Next() {
		hashes = append(hashes, maphash.Bytes(seed, it.Key()))
	}
	if err := r.check(it.Close()); err != nil {
		if errors.Is(err, ErrCorrupt) {
			r.present = allPresent(seed)
			return nil
		}
		return fmt.Errorf("read replica: %w", err)
	}
	p := newPresence(max(2*len(hashes), minPresence), seed)
	for _, h := range hashes {
		p.addHash(h)
	}
	r.present = p
	return nil
}

// pebbleLogger drops Pebble's informational messages and keeps its errors.
// Fatalf stays fatal: Pebble calls it for broken invariants of its own, after
// which it cannot go on; corruption of a table never reaches it (see
// DataCorruption in open).
type pebbleLogger struct{ log *slog.Logger }

func (pebbleLogger) Infof(string, ...any) {}
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble: " + fmt.Sprintf(format, args...))
}
func (pebbleLogger) Fatalf(format string, args ...any) {
	pebble.DefaultLogger.Fatalf(format, args...)
}

func narinfoKey(hash []byte) []byte { return hash }

func locationPrefix(url string) []byte {
	return appendLocationPrefix(make([]byte, 0, len(url)+2), url)
}

func appendLocationPrefix[S string | []byte](k []byte, url S) []byte {
	k = append(k, prefixLocation)
	k = append(k, url...)
	return append(k, 0)
}

func locationKey(url, storeID string) []byte { return append(locationPrefix(url), storeID...) }

// locationKeyPrefix is a copy of the prefix of location key k that names
// the file: what the memory cache keeps the file's copies under.
func locationKeyPrefix(k []byte) []byte {
	return bytes.Clone(k[:bytes.LastIndexByte(k, 0)+1])
}

func storeKey(id string) []byte { return append([]byte{prefixStore}, id...) }

// appendPrefixEnd appends to dst the smallest key greater than every key
// starting with p.
func appendPrefixEnd(dst, p []byte) []byte {
	start := len(dst)
	dst = append(dst, p...)
	for i := len(dst) - 1; i >= start; i-- {
		if dst[i] < 0xff {
			dst[i]++
			return dst[:i+1]
		}
	}
	return dst[:start]
}
