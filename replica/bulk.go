package replica

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// bootstrapChunkBytes is how much of a bootstrap is sorted in memory at a
// time, and bootstrapTableBytes about how large each ingested table file is.
var (
	bootstrapChunkBytes = 32 << 20
	bootstrapTableBytes = uint64(64 << 20)
)

// bulkWriter loads rows into an empty replica without its write-ahead log
// or memtable. It sorts chunks of rows in memory; a bootstrap larger than
// one chunk spills each sorted chunk to a run file, in the background while
// the next chunk fills, and once the copy is done merges the runs, one key
// range per CPU in parallel, the ranges cut at keys sampled from the runs. Either way the rows end up in table files
// whose key ranges do not overlap, ingested together, so they all go
// straight to the LSM's bottom level and nothing is left for compactions to
// rewrite. (Chunks ingested as they fill would each span the whole key
// space and stack up in level 0, where, past a dozen, they stall every write
// until compactions have merged them: seconds of lag right after the replica
// turns ready.)
type bulkWriter struct {
	rep      *Replica
	cur      chunk
	spare    chunk
	runs     []*runFile
	spilling chan spilled // the spill in flight, if any
	rows     int
	narinfos int
	progress func(rows int)
}

// chunk holds rows in one arena, located by entries.
type chunk struct {
	arena   []byte
	entries []bulkEntry
}

// bulkEntry locates one key and value in the arena.
type bulkEntry struct{ off, klen, vlen int }

func (c *chunk) key(e bulkEntry) []byte { return c.arena[e.off : e.off+e.klen] }

func (c *chunk) value(e bulkEntry) []byte {
	return c.arena[e.off+e.klen : e.off+e.klen+e.vlen]
}

func (c *chunk) sort() {
	slices.SortFunc(c.entries, func(a, b bulkEntry) int { return bytes.Compare(c.key(a), c.key(b)) })
}

// runFile is a sorted chunk on disk: each row as its key's and value's
// lengths (uvarints) followed by both. samples are every runSampleRows-th
// row's key and offset, and size the file's length.
type runFile struct {
	path    string
	samples []runSample
	size    int64
}

type runSample struct {
	key []byte
	off int64
}

const runSampleRows = 256

type spilled struct {
	c   chunk
	err error
}

func (w *bulkWriter) set(k, v []byte) error {
	if k[0] >= narinfoFirst && k[0] < narinfoEnd {
		w.rep.present.add(k)
		w.narinfos++
	}
	if w.cur.arena == nil {
		// Sized once, so that a chunk never doubles the arena.
		w.cur.arena = make([]byte, 0, bootstrapChunkBytes+1<<20)
	}
	w.cur.entries = append(w.cur.entries, bulkEntry{off: len(w.cur.arena), klen: len(k), vlen: len(v)})
	w.cur.arena = append(append(w.cur.arena, k...), v...)
	w.rows++
	if len(w.cur.arena) < bootstrapChunkBytes {
		return nil
	}
	if err := w.spill(); err != nil {
		return err
	}
	if w.progress != nil {
		w.progress(w.rows)
	}
	return nil
}

// spill starts writing the current chunk to a new run file and continues
// with the spare chunk. One spill is in flight at a time.
func (w *bulkWriter) spill() error {
	if err := w.waitSpill(); err != nil {
		return err
	}
	c := w.cur
	w.cur, w.spare = chunk{arena: w.spare.arena[:0], entries: w.spare.entries[:0]}, chunk{}
	rf := &runFile{path: filepath.Join(w.rep.dir, fmt.Sprintf("bootstrap-run-%d", len(w.runs)))}
	w.runs = append(w.runs, rf)
	w.spilling = make(chan spilled, 1)
	go func() {
		c.sort()
		err := w.writeRun(&c, rf)
		w.spilling <- spilled{c: c, err: err}
	}()
	return nil
}

// waitSpill waits for the spill in flight and takes its chunk back.
func (w *bulkWriter) waitSpill() error {
	if w.spilling == nil {
		return nil
	}
	s := <-w.spilling
	w.spilling = nil
	w.spare = s.c
	return s.err
}

func (w *bulkWriter) writeRun(c *chunk, rf *runFile) error {
	f, err := w.rep.opts.FS.Create(rf.path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("bootstrap run: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	var off int64
	var n [2 * binary.MaxVarintLen64]byte
	for i, e := range c.entries {
		if i%runSampleRows == 0 {
			rf.samples = append(rf.samples, runSample{key: bytes.Clone(c.key(e)), off: off})
		}
		l := binary.PutUvarint(n[:], uint64(e.klen))
		l += binary.PutUvarint(n[l:], uint64(e.vlen))
		bw.Write(n[:l])
		bw.Write(c.arena[e.off : e.off+e.klen+e.vlen])
		off += int64(l + e.klen + e.vlen)
	}
	rf.size = off
	err = bw.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bootstrap run: %w", err)
	}
	return nil
}

// finish writes every row into table files and ingests them, then removes
// the run files.
func (w *bulkWriter) finish(ctx context.Context) error {
	defer func() {
		w.waitSpill()
		for _, rf := range w.runs {
			w.rep.opts.FS.Remove(rf.path)
		}
	}()
	var tables []string
	if len(w.runs) == 0 {
		w.cur.sort()
		var err error
		if tables, err = w.writeTables("bootstrap", &memRows{c: &w.cur}); err != nil {
			return err
		}
	} else {
		if err := w.spill(); err != nil {
			return err
		}
		if err := w.waitSpill(); err != nil {
			return err
		}
		w.cur, w.spare = chunk{}, chunk{} // the merge needs no arena
		var err error
		if tables, err = w.mergeRuns(); err != nil {
			return err
		}
	}
	if len(tables) == 0 {
		return nil
	}
	if err := w.rep.db.Ingest(ctx, tables); err != nil {
		return fmt.Errorf("ingest bootstrap tables: %w", err)
	}
	return nil
}

// mergeRuns merges the run files into table files, each key range in a
// goroutine of its own, and returns the tables in key order.
func (w *bulkWriter) mergeRuns() ([]string, error) {
	bounds, err := w.rangeBounds(runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, err
	}
	ranges := len(bounds[0]) - 1
	tables := make([][]string, ranges)
	errs := make([]error, ranges)
	var wg sync.WaitGroup
	for r := range ranges {
		wg.Go(func() {
			m, err := openRuns(w.rep.opts.FS, w.runs, bounds, r)
			if err != nil {
				errs[r] = err
				return
			}
			defer m.close()
			tables[r], errs[r] = w.writeTables(fmt.Sprintf("bootstrap-%d", r), m)
		})
	}
	wg.Wait()
	return slices.Concat(tables...), errors.Join(errs...)
}

// rangeBounds cuts the key space into up to n ranges of about as many
// rows, at keys sampled from the runs. bounds[i][r] is the offset in run i
// of its first row of range r; bounds[i][n] is the run's size.
func (w *bulkWriter) rangeBounds(n int) ([][]int64, error) {
	var keys [][]byte
	for _, rf := range w.runs {
		for _, s := range rf.samples {
			keys = append(keys, s.key)
		}
	}
	slices.SortFunc(keys, bytes.Compare)
	var splits [][]byte
	for i := 1; i < n && len(keys) >= n; i++ {
		k := keys[i*len(keys)/n]
		if len(splits) == 0 || bytes.Compare(k, splits[len(splits)-1]) > 0 {
			splits = append(splits, k)
		}
	}
	bounds := make([][]int64, len(w.runs))
	for i, rf := range w.runs {
		bounds[i] = append(bounds[i], 0)
		for _, split := range splits {
			off, err := rf.seek(w.rep.opts.FS, split)
			if err != nil {
				return nil, err
			}
			bounds[i] = append(bounds[i], off)
		}
		bounds[i] = append(bounds[i], rf.size)
	}
	return bounds, nil
}

// seek returns the offset of the run's first row whose key is at least
// key: it starts from the last sample below key and reads on from there.
func (rf *runFile) seek(fs vfs.FS, key []byte) (int64, error) {
	i, _ := slices.BinarySearchFunc(rf.samples, key, func(s runSample, k []byte) int { return bytes.Compare(s.key, k) })
	if i == 0 {
		return 0, nil
	}
	off := rf.samples[i-1].off
	f, err := fs.Open(rf.path)
	if err != nil {
		return 0, fmt.Errorf("bootstrap run: %w", err)
	}
	defer f.Close()
	cr := &countingReader{r: io.NewSectionReader(f, off, rf.size-off)}
	ru := &run{r: bufio.NewReaderSize(cr, 64<<10), name: rf.path}
	for {
		start := off + cr.n - int64(ru.r.Buffered())
		ok, err := ru.read()
		if err != nil {
			return 0, err
		}
		if !ok || bytes.Compare(ru.k, key) >= 0 {
			return start, nil
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// writeTables writes src's rows, in key order, into table files named
// after prefix of about bootstrapTableBytes each, keeping the first of
// equal keys.
func (w *bulkWriter) writeTables(prefix string, src rowSource) ([]string, error) {
	db, opts := w.rep.db, w.rep.opts
	var (
		paths []string
		tw    *sstable.Writer
		last  []byte
	)
	defer func() {
		if tw != nil {
			tw.Close()
		}
	}()
	// closeTable finishes the table being written.
	closeTable := func() error {
		err := tw.Close()
		tw = nil
		if err != nil {
			return fmt.Errorf("bootstrap table: %w", err)
		}
		return nil
	}
	for {
		k, v, ok, err := src.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if last != nil && bytes.Equal(k, last) {
			continue // a row copied twice: keep one
		}
		last = append(last[:0], k...)
		if tw == nil {
			path := filepath.Join(w.rep.dir, fmt.Sprintf("%s-%d.sst", prefix, len(paths)))
			f, err := opts.FS.Create(path, vfs.WriteCategoryUnspecified)
			if err != nil {
				return nil, fmt.Errorf("bootstrap table: %w", err)
			}
			paths = append(paths, path)
			tw = sstable.NewWriter(objstorageprovider.NewFileWritable(f), opts.MakeWriterOptions(0, db.TableFormat()))
		}
		if err := tw.Set(k, v); err != nil {
			return nil, fmt.Errorf("bootstrap table: %w", err)
		}
		if tw.Raw().EstimatedSize() >= bootstrapTableBytes {
			if err := closeTable(); err != nil {
				return nil, err
			}
		}
	}
	if tw != nil {
		if err := closeTable(); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// A rowSource yields rows in key order. The slices are valid until the
// next call.
type rowSource interface {
	next() (k, v []byte, ok bool, err error)
}

// memRows yields the rows of a sorted chunk.
type memRows struct {
	c *chunk
	i int
}

func (m *memRows) next() ([]byte, []byte, bool, error) {
	if m.i == len(m.c.entries) {
		return nil, nil, false, nil
	}
	e := m.c.entries[m.i]
	m.i++
	return m.c.key(e), m.c.value(e), true, nil
}

// runMerge yields one key range of sorted run files, merged in key order.
type runMerge struct {
	runs  runHeap
	files []vfs.File
	top   *run // returned last; advanced on the next call
}

// run is one run file's part being read, with its current row.
type run struct {
	r    *bufio.Reader
	k, v []byte
	name string
}

// openRuns opens key range r of each run file, as bounded by rangeBounds.
func openRuns(fs vfs.FS, rfs []*runFile, bounds [][]int64, r int) (*runMerge, error) {
	m := &runMerge{}
	for i, rf := range rfs {
		f, err := fs.Open(rf.path)
		if err != nil {
			m.close()
			return nil, fmt.Errorf("bootstrap run: %w", err)
		}
		m.files = append(m.files, f)
		part := io.NewSectionReader(f, bounds[i][r], bounds[i][r+1]-bounds[i][r])
		ru := &run{r: bufio.NewReaderSize(part, 256<<10), name: rf.path}
		ok, err := ru.read()
		if err != nil {
			m.close()
			return nil, err
		}
		if ok {
			m.runs = append(m.runs, ru)
		}
	}
	heap.Init(&m.runs)
	return m, nil
}

func (m *runMerge) next() ([]byte, []byte, bool, error) {
	if m.top != nil {
		ok, err := m.top.read()
		if err != nil {
			return nil, nil, false, err
		}
		if ok {
			heap.Fix(&m.runs, 0)
		} else {
			heap.Pop(&m.runs)
		}
		m.top = nil
	}
	if len(m.runs) == 0 {
		return nil, nil, false, nil
	}
	m.top = m.runs[0]
	return m.top.k, m.top.v, true, nil
}

func (m *runMerge) close() {
	for _, f := range m.files {
		f.Close()
	}
}

// read loads the run's next row, reporting false at its end.
func (r *run) read() (bool, error) {
	klen, err := binary.ReadUvarint(r.r)
	if err == io.EOF {
		return false, nil
	}
	vlen, err2 := binary.ReadUvarint(r.r)
	if err == nil {
		err = err2
	}
	if err == nil {
		r.k = append(r.k[:0], make([]byte, klen)...)
		r.v = append(r.v[:0], make([]byte, vlen)...)
		if _, err = io.ReadFull(r.r, r.k); err == nil {
			_, err = io.ReadFull(r.r, r.v)
		}
	}
	if err != nil {
		return false, fmt.Errorf("bootstrap run %s: %w", r.name, err)
	}
	return true, nil
}

// runHeap orders runs by their current key.
type runHeap []*run

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return bytes.Compare(h[i].k, h[j].k) < 0 }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*run)) }
func (h *runHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}
