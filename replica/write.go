package replica

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/jackc/pglogrepl"
)

// A table maps rows of one published table to replica keys. Columns arrive
// in text format, keyed by name; a NULL column is absent from the map.
type table struct {
	// lower and upper bound the table's keys, for TRUNCATE.
	lower, upper []byte
	// key builds the replica key from the row's replica identity columns.
	key func(col map[string][]byte) ([]byte, error)
	// value builds the stored value from the published columns.
	value func(col map[string][]byte) ([]byte, error)
}

// tables are the published tables the replica keeps, by name; the
// publication in sql/migrations carries these columns.
var tables = map[string]table{
	"narinfo": {
		lower: []byte{narinfoFirst}, upper: []byte{narinfoEnd},
		key: func(col map[string][]byte) ([]byte, error) {
			h := col["hash"]
			if len(h) != 32 {
				return nil, fmt.Errorf("narinfo row with hash %q", h)
			}
			return narinfoKey(h), nil
		},
		value: narinfoValue,
	},
	"payload_location": {
		lower: []byte{prefixLocation}, upper: []byte{prefixLocation + 1},
		key: func(col map[string][]byte) ([]byte, error) {
			url, id := col["url"], col["store_id"]
			if len(url) == 0 || len(id) == 0 {
				return nil, errors.New("payload_location row without url or store_id")
			}
			return locationKey(string(url), string(id)), nil
		},
		value: locationValue,
	},
	"store": {
		lower: []byte{prefixStore}, upper: []byte{prefixStore + 1},
		key: func(col map[string][]byte) ([]byte, error) {
			id := col["id"]
			if len(id) == 0 {
				return nil, errors.New("store row without id")
			}
			return storeKey(string(id)), nil
		},
		value: storeFromColumns,
	},
}

// Keeps reports whether the replica keeps rows of the named table.
func Keeps(table string) bool { _, ok := tables[table]; return ok }

func lookupTable(name string) (table, error) {
	t, ok := tables[name]
	if !ok {
		return table{}, fmt.Errorf("row of unexpected table %q", name)
	}
	return t, nil
}

// Txn is one origin transaction's writes, applied at Commit in one atomic
// write: a reader sees all of it or none.
type Txn struct {
	r *Replica
	b *pebble.Batch
	// touched lists the narinfo keys, and the prefixes of the location
	// keys, the transaction wrote, and truncated whether it emptied either
	// table: the memory cache drops them once the transaction is written.
	touched   [][]byte
	truncated bool
	// storesChanged is set when a store row changed; newStores holds the
	// stores written, to be readable before any location naming them.
	storesChanged bool
	newStores     map[string]*Store
}

// Begin starts a transaction. Only one writer writes at a time.
func (r *Replica) Begin() *Txn {
	return &Txn{r: r, b: r.db.NewIndexedBatch()}
}

// Upsert writes row into table, replacing the row whose replica identity
// is old (nil: the same as row's). unchanged names columns whose value was
// not sent because it did not change (an unchanged TOAST value): the
// stored value stands. Only a narinfo's body may be unchanged. Upsert may
// set columns of row.
func (tx *Txn) Upsert(name string, old, row map[string][]byte, unchanged []string) error {
	t, err := lookupTable(name)
	if err != nil {
		return err
	}
	k, err := t.key(row)
	if err != nil {
		return err
	}
	oldKey := k
	if old != nil {
		if oldKey, err = t.key(old); err != nil {
			return err
		}
	}
	if len(unchanged) > 0 {
		if name != "narinfo" || len(unchanged) != 1 || unchanged[0] != "body" {
			return fmt.Errorf("unchanged TOAST columns %v in %s are not supported", unchanged, name)
		}
		v, closer, err := tx.b.Get(oldKey)
		if err != nil {
			return fmt.Errorf("read unchanged narinfo body: %w", tx.r.check(err))
		}
		row["body"] = bytes.Clone(narinfoBody(v))
		closer.Close()
	}
	v, err := t.value(row)
	if err != nil {
		return err
	}
	switch name {
	case "narinfo":
		tx.touched = append(tx.touched, bytes.Clone(k))
		tx.r.present.add(k) // before the commit that stores it
	case "payload_location":
		tx.touched = append(tx.touched, locationKeyPrefix(k))
	case "store":
		s, err := decodeStore(v)
		if err != nil {
			return err
		}
		tx.storesChanged = true
		if tx.newStores == nil {
			tx.newStores = map[string]*Store{}
		}
		tx.newStores[string(k[1:])] = s
	}
	if !bytes.Equal(oldKey, k) {
		if err := tx.remove(name, oldKey); err != nil {
			return err
		}
	}
	return tx.b.Set(k, v, nil)
}

// Delete removes the row of table whose replica identity is old.
func (tx *Txn) Delete(name string, old map[string][]byte) error {
	t, err := lookupTable(name)
	if err != nil {
		return err
	}
	k, err := t.key(old)
	if err != nil {
		return err
	}
	return tx.remove(name, k)
}

func (tx *Txn) remove(name string, k []byte) error {
	switch name {
	case "narinfo":
		tx.touched = append(tx.touched, bytes.Clone(k))
	case "payload_location":
		tx.touched = append(tx.touched, locationKeyPrefix(k))
	case "store":
		tx.storesChanged = true
	}
	return tx.b.Delete(k, nil)
}

// Truncate removes every row of table.
func (tx *Txn) Truncate(name string) error {
	t, err := lookupTable(name)
	if err != nil {
		return err
	}
	switch name {
	case "narinfo", "payload_location":
		tx.truncated = true
	case "store":
		tx.storesChanged = true
	}
	return tx.b.DeleteRange(t.lower, t.upper, nil)
}

// Commit writes the transaction, together with its end LSN and origin
// commit time, in one atomic write, visible to readers at once and durable
// at the next Sync. The Txn is done afterwards.
func (tx *Txn) Commit(end pglogrepl.LSN, commitTime time.Time) error {
	r := tx.r
	defer tx.Close()
	if len(tx.newStores) > 0 {
		// New stores become readable before the locations naming them.
		m := maps.Clone(*r.stores.Load())
		maps.Copy(m, tx.newStores)
		r.stores.Store(&m)
	}
	prev := r.lastCommit.Swap(commitTime.UnixNano())
	if err := r.setPosition(tx.b, end); err != nil {
		r.lastCommit.Store(prev)
		return err
	}
	if err := tx.b.Commit(pebble.NoSync); err != nil {
		r.lastCommit.Store(prev)
		if len(tx.newStores) > 0 {
			r.loadStores() // drop the stores published for it
		}
		return fmt.Errorf("apply transaction: %w", r.check(err))
	}
	if tx.truncated {
		r.hot.clear()
	} else {
		r.hot.invalidate(tx.touched)
	}
	if tx.storesChanged {
		// Deleted stores leave only now that no location names them.
		return r.loadStores()
	}
	return nil
}

// Close discards a transaction that was not committed.
func (tx *Txn) Close() {
	if tx.b != nil {
		tx.b.Close()
		tx.b = nil
	}
}
