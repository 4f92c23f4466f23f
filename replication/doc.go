// Package replication keeps an edge's local replica of the origin database
// current: it owns the edge's logical replication slot, bootstraps the
// replica from a consistent snapshot, applies the pgoutput stream one whole
// transaction at a time, and acknowledges to PostgreSQL only what is durable
// on local disk.
//
// It must never write to the published tables, never acknowledge an LSN whose
// transaction is not durable in the replica, and never show a reader a
// half-applied transaction.
//
// # The embedded store
//
// The replica is a Pebble database (an LSM tree, the storage engine of
// CockroachDB). An edge's work is almost all point reads, most of them for
// keys that are absent, plus a bulk load at bootstrap. Pebble answers a miss
// from per-table Bloom filters and the memtable without touching the disk,
// batches commit atomically with a single fsync (one transaction, its end LSN
// included, is one batch), and a bootstrap streams millions of rows in sorted
// batches at close to disk speed. An edge restart replays only Pebble's
// write-ahead log, not the origin's data.
//
// # Lifecycle
//
//	r, err := replication.Open(replication.Config{
//		ConnString: "postgres://edge@origin-db/narthex",
//		EdgeName:   "fra1",
//		Dir:        "/var/lib/narthex/replica",
//	})
//	if err != nil { ... }
//	r.Start(ctx)       // bootstrap when needed, then stream; reconnects on its own
//	defer r.Close()
//	rep := r.Replica() // the replica to read from; nil until the first bootstrap
//
// When the slot is lost (dropped, or its WAL removed), the replicator keeps the
// old replica in service, bootstraps a new one under a new slot, and switches
// readers over in one atomic step.
package replication
