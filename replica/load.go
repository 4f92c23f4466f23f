package replica

import (
	"context"
	"fmt"
	"hash/maphash"

	"github.com/cockroachdb/pebble/v2"
)

// Loader fills an empty replica with the rows of a bootstrap copy, in any
// order, and writes them at Finish as sorted tables that go straight to the
// LSM's bottom level.
type Loader struct {
	r *Replica
	w *bulkWriter
}

// Load starts the bulk load of an empty replica expected to hold about
// narinfos narinfos (0 when unknown). progress, if set, is called with the
// rows so far every few tens of megabytes.
func (r *Replica) Load(narinfos int, progress func(rows int)) *Loader {
	if 2*narinfos > r.present.capacity {
		// Sized for an empty replica; size it for this one.
		r.present = newPresence(2*narinfos, maphash.MakeSeed())
	}
	return &Loader{r: r, w: &bulkWriter{rep: r, progress: progress}}
}

// Set adds one row of table. It copies what it keeps.
func (l *Loader) Set(name string, row map[string][]byte) error {
	t, err := lookupTable(name)
	if err != nil {
		return err
	}
	k, err := t.key(row)
	if err != nil {
		return err
	}
	v, err := t.value(row)
	if err != nil {
		return err
	}
	return l.w.set(k, v)
}

// Finish writes every row set into the replica and records st, marking the
// replica bootstrapped, durably.
func (l *Loader) Finish(ctx context.Context, st State) error {
	r := l.r
	if err := l.w.finish(ctx); err != nil {
		return err
	}
	if 2*l.w.narinfos > r.present.capacity {
		// The estimate was short: size the filter for what was copied.
		if err := r.loadPresence(); err != nil {
			return err
		}
	}
	if err := r.loadStores(); err != nil {
		return err
	}
	if !st.LastCommit.IsZero() {
		r.lastCommit.Store(st.LastCommit.UnixNano())
	}
	b := r.db.NewBatch()
	defer b.Close()
	if err := r.setPosition(b, st.LSN); err != nil {
		return err
	}
	b.Set(metaSlot, []byte(st.Slot), nil)
	b.Set(metaSystem, []byte(st.System), nil)
	b.Set(metaBootstrapped, []byte{1}, nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("write replica: %w", r.check(err))
	}
	return nil
}
