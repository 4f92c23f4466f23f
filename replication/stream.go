package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// stream follows the slot from the replica's LSN, applying each transaction
// at its commit in one synced batch together with the transaction's end LSN.
// It acknowledges only LSNs whose effects are durable in the replica: the end
// of the last applied transaction or, when no transaction is in flight, the
// server's WAL end from a keepalive, since everything before it has then been
// received and applied.
func stream(ctx context.Context, conn *pgconn.PgConn, rep *Replica, r *Replicator, m meta) error {
	applied := m.LSN
	err := pglogrepl.StartReplication(ctx, conn, m.Slot, applied, pglogrepl.StartReplicationOptions{
		Mode: pglogrepl.LogicalReplication,
		// Protocol 1 sends each transaction whole at its commit; in-progress
		// streaming stays off.
		PluginArgs: []string{"proto_version '1'", "publication_names '" + r.cfg.Publication + "'"},
	})
	if err != nil {
		return fmt.Errorf("start replication: %w", err)
	}
	r.log.Info("streaming", "slot", m.Slot, "from", applied)

	a := newApplier()
	var batch *pebble.Batch
	defer func() {
		if batch != nil {
			batch.Close()
		}
	}()
	ack := applied
	var walEnd pglogrepl.LSN
	next := time.Now()
	for {
		if !time.Now().Before(next) {
			err := pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{
				WALWritePosition: ack,
				WALFlushPosition: ack,
				WALApplyPosition: ack,
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
				return ctx.Err()
			}
			if pgconn.Timeout(err) {
				continue
			}
			return fmt.Errorf("receive: %w", err)
		}
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
			walEnd = ka.ServerWALEnd
			if batch == nil {
				ack = max(ack, ka.ServerWALEnd)
				r.update(func(s *Status) { s.CaughtUpAt = time.Now(); s.ServerWALEnd = walEnd })
			}
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
				if batch != nil {
					return errors.New("begin inside a transaction")
				}
				batch = rep.db.NewIndexedBatch()
			case *pglogrepl.CommitMessage:
				if batch == nil {
					return errors.New("commit outside a transaction")
				}
				end := msg.TransactionEndLSN
				if end > applied {
					if err := setLSN(batch, end); err != nil {
						return err
					}
					if err := batch.Commit(pebble.Sync); err != nil {
						return fmt.Errorf("apply transaction: %w", err)
					}
					applied = end
					ack = max(ack, applied)
				}
				batch.Close()
				batch = nil
				commitTime := msg.CommitTime
				r.update(func(s *Status) {
					s.AppliedLSN = applied
					s.LastCommit = commitTime
					s.Transactions++
					s.ServerWALEnd = walEnd
					if applied >= walEnd {
						s.CaughtUpAt = time.Now()
					}
				})
			default:
				if err := a.apply(batch, msg); err != nil {
					return fmt.Errorf("apply change: %w", err)
				}
			}
		}
	}
}
