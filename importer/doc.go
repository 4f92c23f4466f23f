// Package importer bulk-loads an existing binary cache into a narthex
// origin: a directory as "nix copy --to file://" writes it, or an HTTP
// binary cache, in the Nix or the Guix dialect.
//
// It is a client of the origin's upload API, exactly as "nix copy --to
// http://origin" is: each NAR file is PUT to /nar/<file> and then its
// narinfo, byte for byte as the source has it, to /<hash>.narinfo, with an
// upload token. Every check the origin makes applies to imported paths, and
// the origin's placement decides where the bytes land. A path is uploaded
// only after every path it references, since the origin refuses a narinfo
// with an absent reference; a path the origin already serves is skipped,
// and so is its closure, which the origin only holds complete. So an
// interrupted import continues where it stopped when it is run again.
//
// Before a NAR file is uploaded its bytes are hashed and compared with what
// the narinfo says of them: the hash its name carries, FileHash and
// FileSize when given, and NarHash and NarSize when the file is the NAR
// itself (Compression: none). A compressed file named by its hash has its
// NarHash unchecked: the file hash already covers every byte a client
// fetches (Nix checks NarHash itself when it unpacks). A file named by its
// path, as Guix names them (nar/gzip/<base name>), has no such hash: it is
// decompressed as it is read, and the NAR it holds must match NarHash and
// NarSize, as the origin checks it too. A mismatch refuses the path
// and every path that depends on it, with the reason, and records nothing
// for them.
//
// With NoPayload the source, which must be an HTTP cache, is adopted
// without moving its bytes: it is registered as a read-only http store,
// and each NAR file, hashed as above, is recorded there (nar_file and
// payload_location, by the package's own queries) instead of uploaded;
// the narinfos still go through the origin's API.
//
// It must never import origin, edge, replication, replica, loadtest or
// cmd/narthex: it reaches the origin only over HTTP, and the database only
// through its own queries.
//
//	sum, err := importer.Run(ctx, importer.Config{
//		Source: "file:///srv/old-cache",
//		Origin: "https://origin.example",
//		Token:  token,
//	})
//	if err != nil {
//		return err
//	}
//	sum.WriteTable(os.Stdout)
package importer
