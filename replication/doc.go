// Package replication keeps an edge's local replica (package replica)
// current with the origin database: it owns the edge's logical replication
// slot, bootstraps a new replica from a consistent snapshot, applies the
// pgoutput stream one whole transaction at a time, acknowledges to
// PostgreSQL only what is durable on local disk, and rebuilds the replica,
// while serving the old one, when the slot is lost or the replica is found
// corrupt.
//
// It must never write to the published tables, never acknowledge an LSN whose
// transaction is not durable in the replica, never show a reader a
// half-applied transaction, and never import a role (origin, edge,
// loadtest). How rows are laid out and read is package replica's business.
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
//	<-r.Done()         // closed if it gives up: r.Err() says why
//
// When the slot is lost (dropped, or its WAL removed), or the replica finds a
// table it cannot read, the replicator keeps the old replica in service,
// bootstraps a new one under a new slot, and switches readers over in one
// atomic step.
//
// # Errors
//
// Every failure of a session is retried, with a backoff up to
// Config.MaxBackoff, except one: when the origin refuses the edge for a
// reason retrying cannot heal (no such database, wrong password or role,
// a role without REPLICATION; decided by SQLSTATE) and the edge holds no
// replica, the replicator gives up and Err says why. An edge that holds a
// replica goes on serving it and retrying, logging each refusal as an
// error: stale answers beat none while an operator fixes the role.
package replication
