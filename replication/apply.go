package replication

import (
	"errors"
	"fmt"

	"github.com/jackc/pglogrepl"
	"github.com/narthex-cache/narthex/replica"
)

type relation struct {
	name    string
	columns []string
}

// applier turns pgoutput row messages into writes of a replica transaction.
// Relation messages arrive once per connection before a relation's first
// row, so a new applier is made for every connection.
type applier struct {
	relations map[uint32]relation
	// changes counts the row changes of the transaction being applied.
	changes uint64
}

func newApplier() *applier {
	return &applier{relations: make(map[uint32]relation)}
}

// apply adds one decoded message's effect to tx.
func (a *applier) apply(tx *replica.Txn, msg pglogrepl.Message) error {
	switch msg.(type) {
	case *pglogrepl.InsertMessage, *pglogrepl.UpdateMessage, *pglogrepl.DeleteMessage, *pglogrepl.TruncateMessage:
		if tx == nil {
			return errors.New("row change outside a transaction")
		}
		a.changes++
	}
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		cols := make([]string, len(m.Columns))
		for i, c := range m.Columns {
			cols[i] = c.Name
		}
		a.relations[m.RelationID] = relation{name: m.RelationName, columns: cols}
	case *pglogrepl.InsertMessage:
		return a.upsert(tx, m.RelationID, nil, m.Tuple)
	case *pglogrepl.UpdateMessage:
		return a.upsert(tx, m.RelationID, m.OldTuple, m.NewTuple)
	case *pglogrepl.DeleteMessage:
		rel, old, err := a.row(m.RelationID, m.OldTuple)
		if err != nil {
			return err
		}
		return tx.Delete(rel.name, old)
	case *pglogrepl.TruncateMessage:
		for _, id := range m.RelationIDs {
			rel, ok := a.relations[id]
			if !ok {
				return fmt.Errorf("truncate of unknown relation %d", id)
			}
			if !replica.Keeps(rel.name) {
				continue
			}
			if err := tx.Truncate(rel.name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *applier) upsert(tx *replica.Txn, relID uint32, oldTuple, newTuple *pglogrepl.TupleData) error {
	rel, col, err := a.row(relID, newTuple)
	if err != nil {
		return err
	}
	var old map[string][]byte
	if oldTuple != nil {
		if _, old, err = a.row(relID, oldTuple); err != nil {
			return err
		}
	}
	return tx.Upsert(rel.name, old, col, unchangedColumns(rel, newTuple))
}

// row decodes a tuple of a published table into its columns.
func (a *applier) row(relID uint32, tuple *pglogrepl.TupleData) (relation, map[string][]byte, error) {
	rel, ok := a.relations[relID]
	if !ok {
		return relation{}, nil, fmt.Errorf("row of unknown relation %d", relID)
	}
	if !replica.Keeps(rel.name) {
		return relation{}, nil, fmt.Errorf("row of unexpected table %q", rel.name)
	}
	if tuple == nil {
		return relation{}, nil, fmt.Errorf("%s: row without data", rel.name)
	}
	if len(tuple.Columns) != len(rel.columns) {
		return relation{}, nil, fmt.Errorf("%s: %d columns, relation has %d", rel.name, len(tuple.Columns), len(rel.columns))
	}
	col := make(map[string][]byte, len(rel.columns))
	for i, c := range tuple.Columns {
		switch c.DataType {
		case 't', 'b':
			col[rel.columns[i]] = c.Data
		}
	}
	return rel, col, nil
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
