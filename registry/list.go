package registry

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"
)

// State is what an operator needs to know of an edge first.
type State string

// The states of an edge, in the order List decides them.
const (
	// StateAway: last_seen (its connections, its heartbeat, its slot
	// streaming at the origin's last sweep) older than the away time.
	StateAway State = "away"
	// StateRebuilding: bootstrapping a new replica while serving its old
	// one.
	StateRebuilding State = "rebuilding"
	// StateSlotMissing: its replication slot is gone; it bootstraps anew
	// when it next connects.
	StateSlotMissing State = "slot missing"
	// StateDisconnected: alive, but its slot does not stream.
	StateDisconnected State = "disconnected"
	// StateLagging: its /readyz says its replica is too stale to serve.
	StateLagging State = "lagging"
	// StateReady: streaming and, by its own /readyz, fresh.
	StateReady State = "ready"
)

// DefaultAwayAfter is how long an edge may go unseen before List calls it
// away: six heartbeats at DefaultInterval.
const DefaultAwayAfter = time.Minute

// Edge is one edge of the registry, as List reads it.
type Edge struct {
	Name             string       `json:"name"`
	Region           string       `json:"region"`
	Latitude         *float64     `json:"latitude"`
	Longitude        *float64     `json:"longitude"`
	PublicAddresses  []netip.Addr `json:"public_addresses"`
	PublicURL        string       `json:"public_url"`
	State            State        `json:"state"`
	LastSeen         time.Time    `json:"last_seen"`
	SecondsSinceSeen float64      `json:"seconds_since_seen"`
	// Ready and ReplicaLagSeconds are what the edge's last heartbeat
	// said; nil when it never said.
	Ready             *bool      `json:"ready"`
	ReplicaLagSeconds *float64   `json:"replica_lag_seconds"`
	RebuildingSince   *time.Time `json:"rebuilding_since"`
	Slot              string     `json:"slot"`
	SlotExists        bool       `json:"slot_exists"`
	SlotActive        bool       `json:"slot_active"`
	// LagBytes is the WAL the slot has not confirmed, RetainedBytes the
	// WAL it keeps; nil when the slot is gone.
	LagBytes      *int64 `json:"lag_bytes"`
	RetainedBytes *int64 `json:"wal_retained_bytes"`
}

// Querier runs a query: a *pgxpool.Pool or *pgx.Conn.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// List reads every registered edge, by name, with its state: away when
// not seen for longer than awayAfter (DefaultAwayAfter when 0).
func List(ctx context.Context, db Querier, awayAfter time.Duration) ([]Edge, error) {
	if awayAfter == 0 {
		awayAfter = DefaultAwayAfter
	}
	rows, err := db.Query(ctx, qList)
	if err != nil {
		return nil, fmt.Errorf("list edges: %w", err)
	}
	edges, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Edge, error) {
		var e Edge
		if err := row.Scan(&e.Name, &e.Region, &e.Latitude, &e.Longitude, &e.PublicAddresses, &e.PublicURL,
			&e.LastSeen, &e.SecondsSinceSeen, &e.Ready, &e.ReplicaLagSeconds, &e.RebuildingSince,
			&e.Slot, &e.SlotExists, &e.SlotActive, &e.LagBytes, &e.RetainedBytes); err != nil {
			return e, err
		}
		e.State = e.state(awayAfter)
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list edges: %w", err)
	}
	return edges, nil
}

// state decides e's state from what List read.
func (e Edge) state(awayAfter time.Duration) State {
	switch {
	case e.SecondsSinceSeen > awayAfter.Seconds():
		return StateAway
	case e.RebuildingSince != nil:
		return StateRebuilding
	case !e.SlotExists:
		return StateSlotMissing
	case !e.SlotActive:
		return StateDisconnected
	case e.Ready != nil && !*e.Ready:
		return StateLagging
	}
	return StateReady
}
