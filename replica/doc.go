// Package replica owns an edge's local copy of the published tables: the key
// layout on disk, the reads the edge answers from (narinfo bodies, NAR
// locations, stores), the bulk load of a bootstrap, the presence filter and
// the memory cache of served bodies, and what the replica records about
// itself (applied LSN, slot, last commit). It is usable without PostgreSQL:
// tests build a replica directly.
//
// It must never import the replicator or a role (origin, edge, loadtest),
// never talk to the network, and never show a reader half a transaction:
// every Txn is one atomic write. A replica that finds a table it cannot read
// reports it once through Options.OnCorruption and answers those reads with
// an error wrapping ErrCorrupt; it never stops the process.
//
// # The embedded store
//
// The replica is a Pebble database (an LSM tree, the storage engine of
// CockroachDB). An edge's work is almost all point reads, most of them for
// keys that are absent, plus a bulk load at bootstrap. Pebble answers a miss
// from per-table Bloom filters and the memtable without touching the disk,
// batches commit atomically (one transaction, its end LSN included, is one
// batch), and a bootstrap streams millions of rows in sorted batches at
// close to disk speed. An edge restart replays only Pebble's write-ahead
// log, not the origin's data.
//
// # Use
//
//	rep, err := replica.Create(dir, replica.Options{})   // empty, to bootstrap
//	l := rep.Load(estimatedNarinfos)
//	l.Set("narinfo", map[string][]byte{"hash": h, "body": b}) // each copied row
//	err = l.Finish(ctx, replica.State{LSN: lsn, Slot: slot, System: id})
//
//	rep, err = replica.Open(dir, replica.Options{})      // one bootstrapped before
//	found, err := rep.WriteNarinfo(w, hash)
//	tx := rep.Begin()                                    // one origin transaction
//	tx.Upsert("narinfo", nil, row, nil)
//	err = tx.Commit(endLSN, commitTime)
package replica
