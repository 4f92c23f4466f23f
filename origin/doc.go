// Package origin owns the write side of narthex: the Nix-compatible upload
// API that `nix copy --to http://origin` talks to. It validates every upload
// (narinfo syntax, signatures, NAR bytes against their file hash, or for a
// file Guix names by its path the NAR it holds against the narinfo's
// NarHash, references against the paths already present), signs accepted narinfos with the
// cache's keys, writes NAR bytes to the local store, and records narinfos,
// NAR files, their locations and the reference graph in PostgreSQL in one
// transaction each. Upload tokens are stored as SHA-256 digests only.
//
// Serve bounds what a client can hold (header time, idle time, a minimum
// upload rate, stalled downloads, connections per address), turns failures into answers a
// client can act on (503 with Retry-After while the database is
// unreachable, 507 when storage is full), and sweeps the local store of
// what crashed uploads left behind.
//
// The origin must never import edge (or any other role package), never
// serve a narinfo it has not committed, never rewrite an uploaded narinfo
// other than by appending Sig lines (Guix signs the text), and never change
// anything for input it rejects.
//
//	db, err := pgxpool.New(ctx, connString)
//	if err != nil {
//		return err
//	}
//	srv, err := origin.New(ctx, origin.Config{
//		PublicURL:     "http://127.0.0.1:8080",
//		LocalStoreDir: "/var/lib/narthex/nar",
//		SigningKeys:   []narinfo.SecretKey{key},
//	}, db)
//	if err != nil {
//		return err
//	}
//	ln, err := net.Listen("tcp", ":8080")
//	if err != nil {
//		return err
//	}
//	return srv.Serve(ctx, ln)
package origin
