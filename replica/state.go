package replica

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/jackc/pglogrepl"
)

var (
	metaPosition     = []byte("\xfflsn")
	metaSlot         = []byte("\xffslot")
	metaSystem       = []byte("\xffsystem")
	metaBootstrapped = []byte("\xffbootstrapped")
)

// State is what the replica records about itself.
type State struct {
	// LSN is the origin WAL position the replica holds everything up to.
	LSN pglogrepl.LSN
	// Slot is the replication slot the replica follows.
	Slot string
	// System is the origin's system identifier.
	System string
	// LastCommit is the origin commit time of the last transaction
	// applied, or the time of the bootstrap's snapshot; zero when unknown
	// (a replica written before it was recorded).
	LastCommit time.Time
	// Bootstrapped is set once a bootstrap has completed.
	Bootstrapped bool
}

// State returns what the replica records about itself.
func (r *Replica) State() (State, error) {
	var st State
	get := func(k []byte) ([]byte, error) {
		v, closer, err := r.db.Get(k)
		if errors.Is(err, pebble.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, r.check(err)
		}
		defer closer.Close()
		return append([]byte(nil), v...), nil
	}
	v, err := get(metaPosition)
	if err != nil {
		return st, err
	}
	st.LSN, st.LastCommit = decodePosition(v)
	if v, err = get(metaSlot); err != nil {
		return st, err
	}
	st.Slot = string(v)
	if v, err = get(metaSystem); err != nil {
		return st, err
	}
	st.System = string(v)
	if v, err = get(metaBootstrapped); err != nil {
		return st, err
	}
	st.Bootstrapped = v != nil
	return st, nil
}

// LastCommit is the origin commit time of the last transaction applied, or
// of the bootstrap's snapshot; zero when unknown.
func (r *Replica) LastCommit() time.Time {
	if n := r.lastCommit.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// SetPosition records that the replica holds everything up to lsn, although
// no transaction ended there (the server's WAL end while idle). Like Commit,
// it is durable at the next Sync.
func (r *Replica) SetPosition(lsn pglogrepl.LSN) error {
	b := r.db.NewBatch()
	defer b.Close()
	if err := r.setPosition(b, lsn); err != nil {
		return err
	}
	return r.check(b.Commit(pebble.NoSync))
}

// Sync makes every write so far durable.
func (r *Replica) Sync() error {
	return r.check(r.db.LogData(nil, pebble.Sync))
}

// setPosition adds the position lsn, with the last commit time, to b.
func (r *Replica) setPosition(b *pebble.Batch, lsn pglogrepl.LSN) error {
	var v [16]byte
	binary.BigEndian.PutUint64(v[:8], uint64(lsn))
	binary.BigEndian.PutUint64(v[8:], uint64(r.lastCommit.Load()))
	return b.Set(metaPosition, v[:], nil)
}

// decodePosition reads a position: the LSN, then the last commit time in
// Unix nanoseconds (absent in replicas written before it was recorded).
func decodePosition(v []byte) (pglogrepl.LSN, time.Time) {
	var lsn pglogrepl.LSN
	var t time.Time
	if len(v) >= 8 {
		lsn = pglogrepl.LSN(binary.BigEndian.Uint64(v))
	}
	if len(v) >= 16 {
		if n := int64(binary.BigEndian.Uint64(v[8:])); n != 0 {
			t = time.Unix(0, n)
		}
	}
	return lsn, t
}
