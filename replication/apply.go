package replication

import (
	"bytes"
	"errors"
	"fmt"

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

// tables are the published tables, by name. The bootstrap queries in
// bootstrap.go select the same columns.
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
		value: func(col map[string][]byte) ([]byte, error) { return col["body"], nil },
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
		value: func(col map[string][]byte) ([]byte, error) { return col["key"], nil },
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

type relation struct {
	name    string
	columns []string
}

// applier turns pgoutput row messages into writes on a batch. Relation
// messages arrive once per connection before a relation's first row, so a
// new applier is made for every connection.
type applier struct {
	relations map[uint32]relation
	present   *presence
	// touched lists the narinfo keys the current transaction wrote, and
	// truncated whether it emptied the table: the memory cache drops them
	// once the transaction is durable.
	touched   [][]byte
	truncated bool
}

// committed tells the replica's memory cache what the transaction that just
// became durable changed, and starts the next transaction afresh.
func (a *applier) committed(rep *Replica) {
	if a.truncated {
		rep.hot.clear()
	} else {
		rep.hot.invalidate(a.touched)
	}
	a.discard()
}

// discard forgets the current transaction's changes.
func (a *applier) discard() {
	a.touched, a.truncated = a.touched[:0], false
}

func (a *applier) touch(t table, keys ...[]byte) {
	if t.lower[0] != narinfoFirst {
		return
	}
	for _, k := range keys {
		a.touched = append(a.touched, bytes.Clone(k))
	}
}

func newApplier(rep *Replica) *applier {
	return &applier{relations: make(map[uint32]relation), present: rep.present}
}

// apply adds one decoded message's effect to b. b is an indexed batch, so a
// row whose unchanged TOAST value was not sent can be read back.
func (a *applier) apply(b *pebble.Batch, msg pglogrepl.Message) error {
	switch msg.(type) {
	case *pglogrepl.InsertMessage, *pglogrepl.UpdateMessage, *pglogrepl.DeleteMessage, *pglogrepl.TruncateMessage:
		if b == nil {
			return errors.New("row change outside a transaction")
		}
	}
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		cols := make([]string, len(m.Columns))
		for i, c := range m.Columns {
			cols[i] = c.Name
		}
		a.relations[m.RelationID] = relation{name: m.RelationName, columns: cols}
	case *pglogrepl.InsertMessage:
		return a.upsert(b, m.RelationID, nil, m.Tuple)
	case *pglogrepl.UpdateMessage:
		return a.upsert(b, m.RelationID, m.OldTuple, m.NewTuple)
	case *pglogrepl.DeleteMessage:
		t, old, err := a.row(m.RelationID, m.OldTuple)
		if err != nil {
			return err
		}
		k, err := t.key(old)
		if err != nil {
			return err
		}
		a.touch(t, k)
		return b.Delete(k, nil)
	case *pglogrepl.TruncateMessage:
		for _, id := range m.RelationIDs {
			rel, ok := a.relations[id]
			if !ok {
				return fmt.Errorf("truncate of unknown relation %d", id)
			}
			t, ok := tables[rel.name]
			if !ok {
				continue
			}
			a.truncated = a.truncated || t.lower[0] == narinfoFirst
			if err := b.DeleteRange(t.lower, t.upper, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *applier) upsert(b *pebble.Batch, relID uint32, oldTuple, newTuple *pglogrepl.TupleData) error {
	t, col, err := a.row(relID, newTuple)
	if err != nil {
		return err
	}
	k, err := t.key(col)
	if err != nil {
		return err
	}
	var oldKey []byte
	if oldTuple != nil {
		_, old, err := a.row(relID, oldTuple)
		if err != nil {
			return err
		}
		if oldKey, err = t.key(old); err != nil {
			return err
		}
	} else {
		oldKey = k
	}
	unchanged := unchangedColumns(a.relations[relID], newTuple)
	if len(unchanged) > 0 {
		// An unchanged TOAST value is not sent: the stored value stands.
		if relName := a.relations[relID].name; relName != "narinfo" || len(unchanged) != 1 || unchanged[0] != "body" {
			return fmt.Errorf("unchanged TOAST columns %v in %s are not supported", unchanged, a.relations[relID].name)
		}
		v, closer, err := b.Get(oldKey)
		if err != nil {
			return fmt.Errorf("read unchanged narinfo body: %w", err)
		}
		col["body"] = append([]byte(nil), v...)
		closer.Close()
	}
	v, err := t.value(col)
	if err != nil {
		return err
	}
	a.touch(t, k)
	if t.lower[0] == narinfoFirst {
		a.present.add(k) // before the commit that stores it
	}
	if string(oldKey) != string(k) {
		a.touch(t, oldKey)
		if err := b.Delete(oldKey, nil); err != nil {
			return err
		}
	}
	return b.Set(k, v, nil)
}

// row decodes a tuple of a published table into its columns.
func (a *applier) row(relID uint32, tuple *pglogrepl.TupleData) (table, map[string][]byte, error) {
	rel, ok := a.relations[relID]
	if !ok {
		return table{}, nil, fmt.Errorf("row of unknown relation %d", relID)
	}
	t, ok := tables[rel.name]
	if !ok {
		return table{}, nil, fmt.Errorf("row of unexpected table %q", rel.name)
	}
	if tuple == nil {
		return table{}, nil, fmt.Errorf("%s: row without data", rel.name)
	}
	if len(tuple.Columns) != len(rel.columns) {
		return table{}, nil, fmt.Errorf("%s: %d columns, relation has %d", rel.name, len(tuple.Columns), len(rel.columns))
	}
	col := make(map[string][]byte, len(rel.columns))
	for i, c := range tuple.Columns {
		switch c.DataType {
		case 't', 'b':
			col[rel.columns[i]] = c.Data
		}
	}
	return t, col, nil
}

func unchangedColumns(rel relation, tuple *pglogrepl.TupleData) []string {
	var names []string
	for i, c := range tuple.Columns {
		if c.DataType == 'u' {
			names = append(names, rel.columns[i])
		}
	}
	return names
}
