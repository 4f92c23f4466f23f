// Package pgtest gives tests a real PostgreSQL: one cluster per test binary,
// started by Main, and a fresh database per test from NewDatabase.
//
// It owns the shared cluster and the databases it creates, and drops each of
// them, with any replication slots on it, when its test ends. It never
// touches a cluster other than the one Main started, and never skips a test
// under CI: without PostgreSQL, Main fails there; on a developer's machine the
// tests that need PostgreSQL skip and say how to install it. The server
// binaries are found as narthex dev finds them (PostgreSQL 15 to 17, see
// pgcluster.FindBinDir), or in the folder $NARTHEX_PG_BIN names.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestStore_Put(t *testing.T) {
//		pool, err := pgxpool.New(t.Context(), pgtest.NewDatabase(t))
//		...
//	}
package pgtest
