// Package stores owns the places NAR bytes live. Today that is Local, a
// directory on this machine whose layout mirrors the cache: the file for key
// "nar/<filehash>.nar.xz" is <dir>/nar/<filehash>.nar.xz, so the directory can
// also be served by any static web server.
//
// A store only moves bytes. It never touches the database, never decides
// which files a cache should hold, and never imports a role package (origin,
// edge, gc): those declare the small interfaces they need and stores
// satisfies them.
//
// Writes are atomic and durable: a key either holds the complete bytes that
// were put, or what it held before. A crash in the middle of a Put leaves a
// temporary file (".tmp-*") that RemoveTemp clears once it is old enough;
// Walk lists the committed objects, so that the caller can reconcile them
// with its records.
//
//	st, err := stores.Open("/var/lib/narthex/nar")
//	if err != nil {
//		return err
//	}
//	key := "nar/0kwnzfnhkydqkdls2rc7ag3w795w1ffd9m2vl1ys33y5hsg961lz.nar.xz"
//	size, sum, err := st.Put(ctx, key, body, wantSHA256)
//	if errors.Is(err, stores.ErrDigestMismatch) {
//		// nothing was written; sum is the digest of what was read
//	}
package stores
