// Package edge is the read side of narthex: an HTTP server that answers the
// Nix binary cache protocol from the local replica (package replica), kept
// current by a replicator (package replication). Narinfo lookups, hits and
// misses alike, are answered from the replica without touching the network
// and without allocating; NAR downloads are redirected to a store that
// holds a good copy of the file, the nearest to the client when a GeoIP
// City database places it (geoip.go, rank.go), by download priority
// otherwise. X-Forwarded-For is believed only from trusted proxies.
//
// It must never write to the origin, never import origin or load-test code,
// never serve a narinfo that is not in the replica, and never redirect
// anything but a NAR download. A replica read that fails (a corrupt table
// while the replica is rebuilt) is answered 503, which clients retry; it
// never stops the server.
//
// Three HTTP engines answer with the same handler (Server.Handle) and the
// same bytes (Config.Engine): fasthttp's server, and on Linux event loops
// that read each connection once per readiness and write all the answers
// to its pipelined requests at once, on io_uring (a batch of receives and
// sends for one system call; the default) or on epoll (a read and a write
// system call each), fasthttp still parsing the requests and writing the
// answers.
//
//	srv, err := edge.New(edge.Config{StoreDir: "/nix/store"}, replicator)
//	if err != nil { ... }
//	err = srv.ListenAndServe(ctx, "127.0.0.1:8081")
package edge
