// Package registry owns the edge registry in the origin database: what an
// edge says about itself (name, region, coordinates, the addresses DNS
// answers with, the URL clients use) and its heartbeat, which keeps that
// and the edge's last_seen fresh while the edge runs (Heartbeat); and
// the operator's view of every edge with the state of its replication
// slot (List), which "narthex edges list" prints and GeoDNS
// configuration is made from.
//
// An edge's row is made by its replicator when the edge's first slot is
// made (package replication); the heartbeat only updates it, so an edge
// shows up here once its first bootstrap has begun streaming.
//
// It must never import a role (origin, edge, gc, loadtest) or the
// replicator, and never write a row but the edge's own.
package registry
