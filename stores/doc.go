// Package stores owns the places NAR bytes live. There are three kinds,
// named as the store table's kind column names them:
//
//   - Local ("local"), a directory on this machine whose layout mirrors the
//     cache: the file for key "nar/<filehash>.nar.xz" is
//     <dir>/nar/<filehash>.nar.xz, so the directory can also be served by
//     any static web server;
//   - S3 ("s3"), a bucket of an S3-compatible service, downloaded by a
//     public base URL or by presigned URLs (Presigner, which an edge builds
//     with read-only credentials of its own);
//   - Mirror ("http"), a read-only binary cache behind a web server, which
//     is read but never written to or listed.
//
// Each has the method set of Store, which one conformance suite holds them
// to; OpenKind opens any of them from a store row's columns.
//
// A store only moves bytes. It never touches the database, never decides
// which files a cache should hold, never reads flags or the environment
// itself (S3 credentials follow the AWS SDK's default chain unless the
// caller gives its own), and never imports a role package (origin, edge,
// gc): those declare the small interfaces they need and stores satisfies
// them.
//
// Writes are atomic: a key either holds the complete bytes that were put,
// or what it held before, and a Put given the expected SHA-256 commits
// nothing else. Local writes are durable too; a crash in the middle of a
// Put leaves a temporary file (".tmp-*") that RemoveTemp clears once it is
// old enough. S3 needs no temporary objects (see S3). Walk lists the
// committed objects, so that the caller can reconcile them with its
// records.
//
//	st, err := stores.OpenKind(ctx, row.Kind, row.Settings, row.BaseURL, "")
//	if err != nil {
//		return err
//	}
//	key := "nar/0kwnzfnhkydqkdls2rc7ag3w795w1ffd9m2vl1ys33y5hsg961lz.nar.xz"
//	size, sum, err := st.Put(ctx, key, body, wantSHA256)
//	switch {
//	case errors.Is(err, stores.ErrDigestMismatch):
//		// nothing was written; sum is the digest of what was read
//	case errors.Is(err, stores.ErrAccessDenied):
//		// the store refused this process's credentials
//	case errors.Is(err, stores.ErrReadOnly):
//		// an http mirror is never written to
//	}
package stores
