// Package analytics counts what clients fetch from an edge: narinfo hits,
// narinfo misses by the hash asked for, NAR redirects with their bytes,
// and requests by client family, each by hour and country, in memory
// (Counter), for the edge to flush to the origin database in batches.
//
// It must never store a client's address (a country is all it keeps),
// never allocate or take a lock when a request is counted, and never
// import a role package.
package analytics
