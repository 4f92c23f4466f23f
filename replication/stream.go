package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/narthex-cache/narthex/replica"
)

// ErrSilent means nothing arrived from the server within
// Config.ReceiveTimeout although replies were asked for.
var ErrSilent = errors.New("replication connection silent")

// stream follows the slot from the replica's LSN, applying each transaction
// at its commit in one batch together with the transaction's end LSN.
//
// A transaction is visible to readers as soon as its batch is written; its
// durability waits for the next acknowledgement, which first syncs the
// replica's log once for every transaction since the last one. One fsync per
// status interval, not per transaction, keeps a burst of commits from
// queueing behind the disk. Only synced LSNs are acknowledged: the end of the
// last applied transaction or, when no transaction is in flight, the WAL end
// of a keepalive, since everything before it has then been received; that
// LSN is stored before it is acknowledged. After a crash the server resends
// whatever was applied but not acknowledged.
//
// target is the server's WAL position when the session began: until the
// replica has reached it, the replica is catching up, not current. After
// that, it is current whenever it has applied everything the server sent.
func stream(ctx context.Context, conn *pgconn.PgConn, rep *replica.Replica, r *Replicator, m replica.State, target pglogrepl.LSN) error {
	applied := m.LSN
	synced := applied
	sctx, cancel := context.WithTimeout(ctx, r.cfg.ReceiveTimeout)
	defer cancel()
	err := pglogrepl.StartReplication(sctx, conn, m.Slot, applied, pglogrepl.StartReplicationOptions{
		Mode: pglogrepl.LogicalReplication,
		// Protocol 1 sends each transaction whole at its commit; in-progress
		// streaming stays off.
		PluginArgs: []string{"proto_version '1'", "publication_names '" + r.cfg.Publication + "'"},
	})
	if err != nil {
		return fmt.Errorf("start replication: %w", err)
	}
	r.update(func(s *Status) { s.Connected, s.ServerWALEnd, s.AppliedLSN = true, target, applied })
	r.log.Info("streaming", "slot", m.Slot, "from", applied, "catch_up_to", target)

	a := newApplier()
	var tx *replica.Txn
	defer func() {
		if tx != nil {
			tx.Close()
		}
	}()
	var walEnd pglogrepl.LSN
	// current reports, and records, that the replica holds everything the
	// server has sent and has reached the session's target.
	current := func() {
		if applied >= target {
			now := time.Now()
			r.update(func(s *Status) { s.CaughtUpAt = now; s.ServerWALEnd = walEnd; s.AppliedLSN = applied })
		}
	}
	next := time.Now()
	lastHeard := time.Now()
	for {
		if !time.Now().Before(next) {
			if applied > synced {
				if err := rep.Sync(); err != nil {
					return fmt.Errorf("sync replica: %w", err)
				}
				synced = applied
			}
			err := pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{
				WALWritePosition: synced,
				WALFlushPosition: synced,
				WALApplyPosition: synced,
				ClientTime:       time.Now(),
				ReplyRequested:   true,
			})
			if err != nil {
				return fmt.Errorf("send status: %w", err)
			}
			next = time.Now().Add(r.cfg.StatusInterval)
		}
		rctx, cancel := context.WithDeadline(ctx, next)
		raw, err := conn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			if pgconn.Timeout(err) {
				if time.Since(lastHeard) > r.cfg.ReceiveTimeout {
					return fmt.Errorf("%w for %s", ErrSilent, time.Since(lastHeard).Round(time.Second))
				}
				continue
			}
			return fmt.Errorf("receive: %w", err)
		}
		lastHeard = time.Now()
		var data []byte
		switch msg := raw.(type) {
		case *pgproto3.ErrorResponse:
			return pgconn.ErrorResponseToPgError(msg)
		case *pgproto3.CopyData:
			data = msg.Data
		default:
			continue
		}
		if len(data) == 0 {
			continue
		}
		switch data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
			if err != nil {
				return fmt.Errorf("parse keepalive: %w", err)
			}
			walEnd = max(walEnd, ka.ServerWALEnd)
			if tx == nil {
				// Everything up to the keepalive's WAL end has arrived. Store
				// that before acknowledging it, so that a replica restored
				// from an older copy is never mistaken for a current one.
				if walEnd > applied {
					if err := rep.SetPosition(walEnd); err != nil {
						return fmt.Errorf("store position: %w", err)
					}
					applied = walEnd
				}
				current()
			}
			r.update(func(s *Status) { s.ServerWALEnd, s.AppliedLSN = walEnd, applied })
			if ka.ReplyRequested {
				next = time.Time{}
			}
		case pglogrepl.XLogDataByteID:
			xld, err := pglogrepl.ParseXLogData(data[1:])
			if err != nil {
				return fmt.Errorf("parse xlogdata: %w", err)
			}
			walEnd = max(walEnd, xld.ServerWALEnd)
			msg, err := pglogrepl.Parse(xld.WALData)
			if err != nil {
				return fmt.Errorf("parse pgoutput message: %w", err)
			}
			switch msg := msg.(type) {
			case *pglogrepl.BeginMessage:
				if tx != nil {
					return errors.New("begin inside a transaction")
				}
				tx = rep.Begin()
				a.changes = 0
			case *pglogrepl.CommitMessage:
				if tx == nil {
					return errors.New("commit outside a transaction")
				}
				end := msg.TransactionEndLSN
				if end <= applied {
					// Applied before a restart; the server sends it again.
					tx.Close()
					tx = nil
					continue
				}
				err := tx.Commit(end, msg.CommitTime)
				tx = nil
				if err != nil {
					return err
				}
				applied = end
				commitTime, changes := msg.CommitTime, a.changes
				r.update(func(s *Status) {
					s.AppliedLSN = applied
					s.ServerWALEnd = walEnd
					s.LastCommit = commitTime
					s.Transactions++
					s.Changes += changes
				})
				if applied >= walEnd {
					current()
				}
			default:
				if err := a.apply(tx, msg); err != nil {
					return fmt.Errorf("apply change: %w", err)
				}
			}
		}
	}
}
