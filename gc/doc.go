// Package gc collects what no root and no recent use keeps alive: the
// narinfos the reference graph does not reach from a live path, then the
// NAR files no narinfo lists any more, then those files' bytes in every
// store once every live edge has applied their deletion.
//
// A run takes the collector's advisory lock (one collector at a time,
// across origins), marks with one recursive query over the reference
// graph into a temporary table, and sweeps in batches, newest path first,
// so that referrers go before what they refer to. Each batch locks its
// rows and checks them again after the locks are granted: a path that
// became live since the mark (a root, an upload referring to it, an
// uploader told it is present) stays, and so does everything it refers
// to. The schema's foreign keys do the rest: an upload referring to a
// path being deleted either commits first, and the path stays, or fails.
//
// NAR files outlive their last narinfo by the payload grace, so that a
// client holding the narinfo is still sent to the bytes. Then their
// locations go, and each location's bytes get a tombstone stamped with a
// WAL position past the delete; the bytes are deleted once every live
// edge's replication slot has confirmed that position (the fence). A
// writer of a key drops its tombstone before writing, so bytes written
// again are never deleted by an older decision.
//
// It must never delete a path a live path reaches, never leave a narinfo
// referring to a missing path, never delete bytes an edge may still send
// a client to, and never import origin, edge, replication, replica,
// loadtest or cmd/narthex.
//
//	c, err := gc.New(gc.Config{DB: pool, Open: openStore})
//	if err != nil {
//		return err
//	}
//	rep, err := c.Run(ctx, gc.Options{})
//	if errors.Is(err, gc.ErrLocked) {
//		// another collector is at work; the error says which
//	}
package gc
