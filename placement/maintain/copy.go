package maintain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/narinfo"
	"github.com/narthex-cache/narthex/placement"
	"github.com/narthex-cache/narthex/stores"
)

const (
	// recordTimeout bounds recording a copy whose bytes are written, which
	// goes on after a stop so that the work is not lost.
	recordTimeout = 10 * time.Second
	// batchSize is how many items one query hands out.
	batchSize = 500
)

var (
	// errNoRoom is returned by copyIn when the target has no room for the
	// file under its limit.
	errNoRoom = errors.New("no room")
	// errNoSource is returned by copyIn when no store holds a good copy
	// of the file.
	errNoSource = errors.New("no good copy to copy from")
)

// file is a NAR file of nar_file.
type file struct {
	URL    string
	Hash   string // "sha256:<nixbase32>"
	Size   int64
	sha256 []byte
}

// digest decodes the file's hash.
func (f *file) digest() ([]byte, error) {
	if f.sha256 != nil {
		return f.sha256, nil
	}
	b, err := nixbase32.DecodeString(strings.TrimPrefix(f.Hash, "sha256:"))
	if err != nil || !strings.HasPrefix(f.Hash, "sha256:") || len(b) != 32 {
		return nil, fmt.Errorf("file %s has hash %q, not sha256:<nixbase32>", f.URL, f.Hash)
	}
	f.sha256 = b
	return b, nil
}

// source is a good copy of a file to copy from.
type source struct {
	StoreID int32
	Key     string
}

// sources returns the good copies of f outside store but, best first.
func (p *pass) sources(ctx context.Context, f *file, but int32) ([]source, error) {
	rows, err := p.m.db.Query(ctx, qSources, f.URL, but)
	if err != nil {
		return nil, fmt.Errorf("find copies of %s: %w", f.URL, err)
	}
	src, err := pgx.CollectRows(rows, pgx.RowToStructByPos[source])
	if err != nil {
		return nil, fmt.Errorf("find copies of %s: %w", f.URL, err)
	}
	return src, nil
}

// reserve reserves f.Size bytes of store t under its limit and returns
// the reservation's id, or nil when t has no limit; errNoRoom when the
// bytes do not fit.
func (p *pass) reserve(ctx context.Context, t *storeRow, size int64) (*int64, error) {
	limit := t.limit()
	if limit == nil {
		return nil, nil
	}
	id, ok, err := placement.Reserve(ctx, p.m.db, t.ID, size, *limit, p.m.cfg.Name)
	switch {
	case err != nil:
		return nil, fmt.Errorf("store %s: %w", t.Name, err)
	case !ok:
		return nil, fmt.Errorf("store %s: %w for %d bytes under its %s", t.Name, errNoRoom, size, t.limitName())
	}
	return &id, nil
}

// release gives back the room of a copy that was not recorded.
func (p *pass) release(ctx context.Context, t *storeRow, res *int64) {
	if res == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := placement.Release(ctx, p.m.db, *res); err != nil {
		p.m.log.Warn("could not release the room of a failed copy; it lapses unrenewed",
			"store", t.Name, "lapse", placement.ReservationLapse, "err", err)
	}
}

// copied is a copy made and hashed right but not yet recorded. It holds
// its reservation until record records it or gives the room back.
type copied struct {
	f   *file
	key string
	res *int64 // nil when the store has no limit
	n   int64  // bytes written, 0 for an object already there
}

// copyIn makes a good copy of f in store t, under the key its URL names
// (narinfo.NarURL), for the caller to record: it reserves room when t has
// a limit, takes an object already there when its bytes hash right (what
// a killed pass wrote but did not record), else copies from the first of
// srcs that gives the right bytes. It returns errNoRoom when t has no room, and gives the room back
// on any error. Sources found missing or corrupt on the way are marked so.
//
// Whether the object is already there is asked of dst, unless listed is
// not nil: then listed holds, by key, every object of dst that no good
// location records, and an object not in it is not there.
func (p *pass) copyIn(ctx context.Context, f *file, t *storeRow, dst Store, srcs []source, listed map[string]int64) (copied, error) {
	want, err := f.digest()
	if err != nil {
		return copied{}, err
	}
	res, err := p.reserve(ctx, t, f.Size)
	if err != nil {
		return copied{}, err
	}
	c := copied{f: f, key: narinfo.URLKey(f.URL), res: res}
	// Bytes of this key that garbage collection decided to delete, left
	// in the store behind the fence, must not be taken or overwritten and
	// then deleted: drop that decision first.
	if _, err := p.m.db.Exec(ctx, qBeginPayloadWrite, f.URL, t.ID, c.key); err != nil {
		p.release(ctx, t, res)
		return copied{}, fmt.Errorf("begin the copy of %s into store %s: %w", f.URL, t.Name, err)
	}
	there := func() (int64, error) { return dst.Stat(ctx, c.key) }
	if listed != nil {
		there = func() (int64, error) {
			if n, ok := listed[c.key]; ok {
				return n, nil
			}
			return 0, fs.ErrNotExist
		}
	}
	if n, err := there(); err == nil && n == f.Size {
		if got, _, err := sum(ctx, dst, c.key); err == nil && bytes.Equal(got, want) {
			p.m.log.Debug("took a copy already in the store", "store", t.Name, "key", c.key)
			return c, nil
		}
	}
	fail := func(err error) (copied, error) {
		p.release(ctx, t, res)
		return copied{}, err
	}
	if len(srcs) == 0 {
		return fail(fmt.Errorf("%s: %w", f.URL, errNoSource))
	}
	var last error
	for _, s := range srcs {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		row, ok := p.row(s.StoreID)
		if !ok {
			continue
		}
		src, err := p.open(ctx, row)
		if err != nil {
			last = err
			continue
		}
		n, err := p.copyFrom(ctx, f, &row, src, s.Key, dst, c.key, want)
		if err != nil {
			last = err
			continue
		}
		c.n = n
		return c, nil
	}
	return fail(fmt.Errorf("copy %s into store %s: %w", f.URL, t.Name, last))
}

// copyFrom streams f from key skey of store src into key of dst, checking
// its SHA-256 before dst commits it. A source that does not have the file,
// or whose bytes do not hash right, is marked missing or corrupt.
func (p *pass) copyFrom(ctx context.Context, f *file, from *storeRow, src Store, skey string, dst Store, key string, want []byte) (int64, error) {
	r, _, err := src.Open(ctx, skey)
	if errors.Is(err, fs.ErrNotExist) && ctx.Err() == nil {
		p.markBad(ctx, f, from, skey, "missing")
		return 0, fmt.Errorf("store %s: %w", from.Name, err)
	}
	if err != nil {
		return 0, fmt.Errorf("store %s: %w", from.Name, err)
	}
	defer r.Close()
	n, _, err := dst.Put(ctx, key, r, want)
	if errors.Is(err, stores.ErrDigestMismatch) && ctx.Err() == nil {
		p.markBad(ctx, f, from, skey, "corrupt")
		return 0, fmt.Errorf("from store %s: %w", from.Name, err)
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

// record records the copies cs in store t and releases their
// reservations, even after a stop: their bytes are written. When it
// fails, the reservations are given back instead.
//
// The record commits without waiting for the WAL to reach the disk, in one
// round trip: copies recorded in parallel take the lock of the store's
// usage row one after another, and waiting for a flush while holding it
// would make them wait for each other's flushes. Nothing is lost by it: a
// record a crash takes away leaves an object no location records, which
// the next populate finds by listing the store and records without copying
// it again (unrecorded). A drain or eviction removes the old copy only
// after this, in a transaction of its own whose commit does wait for the
// WAL, and so for this record too, which lies before it in the WAL.
func (p *pass) record(ctx context.Context, t *storeRow, cs []copied) error {
	if len(cs) == 0 {
		return nil
	}
	urls := make([]string, len(cs))
	keys := make([]string, len(cs))
	sizes := make([]int64, len(cs))
	var res []int64
	for i, c := range cs {
		urls[i], keys[i], sizes[i] = c.f.URL, c.key, c.f.Size
		if c.res != nil {
			res = append(res, *c.res)
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit TO off")
	b.Queue(qRecordLocations, t.ID, urls, keys, sizes, res)
	b.Queue("COMMIT")
	if err := p.m.db.SendBatch(ctx, b).Close(); err != nil {
		for _, c := range cs {
			p.release(ctx, t, c.res)
		}
		if len(cs) == 1 {
			return fmt.Errorf("record the copy of %s in store %s: %w", cs[0].f.URL, t.Name, err)
		}
		return fmt.Errorf("record %d copies in store %s: %w", len(cs), t.Name, err)
	}
	return nil
}

// markBad marks the location of f in store st missing or corrupt (state),
// and logs it.
func (p *pass) markBad(ctx context.Context, f *file, st *storeRow, key, state string) {
	p.m.log.Warn("a copy is "+state, "store", st.Name, "key", key, "url", f.URL)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if _, err := p.m.db.Exec(ctx, qMarkBad, f.URL, st.ID, state); err != nil {
		p.m.log.Warn("could not mark a copy "+state, "store", st.Name, "key", key, "err", err)
	}
}

// removeCopy removes the copy of f from store st, record first and then
// object, when that loses nothing (see remove_location.sql), and reports
// whether it did. An object that cannot be deleted once its record is
// gone is logged: nothing sends clients to it any more.
func (p *pass) removeCopy(ctx context.Context, f *file, st *storeRow, s Store) (bool, error) {
	var key string
	err := pgx.BeginFunc(ctx, p.m.db, func(tx pgx.Tx) error {
		var url string
		if err := tx.QueryRow(ctx, qLockNarFile, f.URL).Scan(&url); err != nil {
			return fmt.Errorf("lock file %s: %w", f.URL, err)
		}
		err := tx.QueryRow(ctx, qRemoveLocation, f.URL, st.ID).Scan(&key)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("remove the copy of %s in store %s: %w", f.URL, st.Name, err)
		}
		return nil
	})
	if err != nil || key == "" {
		return false, err
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := s.Delete(dctx, key); err != nil {
		p.m.log.Warn("a removed copy's object could not be deleted; it is left unrecorded",
			"store", st.Name, "key", key, "err", err)
	}
	return true, nil
}

// unrecorded lists the objects of dst under nar/ that no good location of
// store st records, by key, with their sizes: what passes killed between
// writing and recording left. One listing, and a query a batch of keys,
// spares a populate a question to the store for every file. It returns
// nil when dst cannot list its objects.
func (p *pass) unrecorded(ctx context.Context, st *storeRow, dst Store) (map[string]int64, error) {
	w, ok := dst.(walker)
	if !ok {
		return nil, nil
	}
	out := map[string]int64{}
	var urls []string
	type object struct {
		key  string
		size int64
	}
	objects := map[string]object{} // by URL
	flush := func() error {
		rows, err := p.m.db.Query(ctx, qUnrecorded, st.ID, urls)
		if err != nil {
			return err
		}
		left, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, u := range left {
			out[objects[u].key] = objects[u].size
		}
		urls, objects = urls[:0], map[string]object{}
		return nil
	}
	err := w.Walk(ctx, "nar", func(key string, size int64) error {
		u := narinfo.EscapeKey(key)
		urls = append(urls, u)
		objects[u] = object{key, size}
		if len(urls) == batchSize {
			return flush()
		}
		return nil
	})
	if err == nil && len(urls) > 0 {
		err = flush()
	}
	if err != nil {
		return nil, fmt.Errorf("list store %s: %w", st.Name, err)
	}
	return out, nil
}
