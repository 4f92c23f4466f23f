// Package pgcluster starts and stops a local PostgreSQL cluster for
// development (`narthex dev`) and tests.
//
// A Cluster owns one folder: the data directory (Dir/data), the directory of
// its unix socket (Dir/run) and the server log (Dir/postgres.log). The server
// runs as a child of this process, is stopped with Stop, and is killed by the
// kernel if this process dies first, so a crashed test binary leaves no server
// behind. The folder survives Stop: starting again on the same Dir finds the
// same data.
//
// pgcluster never touches a cluster it did not create: it refuses a data
// directory in use by a running server and never writes into an existing
// Dir/data that lacks PG_VERSION. It never listens beyond loopback: the server
// listens on 127.0.0.1 only, and Settings cannot change listen_addresses,
// port or unix_socket_directories. Authentication is trust, for the superuser
// named postgres; that is fine on loopback for dev and tests and nowhere else.
// The one exception is a server started in a network namespace (Netns, which
// tests make to stand for other hosts): it listens on every address of that
// namespace, and admits whom its pg_hba.conf admits (the one initdb writes,
// loopback alone; the hba_file setting names another).
//
// When this process runs as root, initdb and postgres run as the postgres
// system user (PostgreSQL refuses root), and Dir is handed to that user. When
// that user cannot pass through Dir's parents (root's home, mktemp -d
// folders), the cluster is kept in a folder of its own under
// /var/lib/narthex/postgres instead and Dir becomes a symbolic link to it;
// pgcluster never loosens the permissions of the user's folders.
//
// The server binaries are found by FindBinDir (PostgreSQL 15 to 17, on PATH,
// by pg_config or in Debian's /usr/lib/postgresql/<version>/bin). A cluster
// started with Port 0 keeps the port it picked, in Dir/port, across
// restarts. Wait reports a server that dies under its user; Kill makes one
// die, as a crash would.
//
// Example:
//
//	c, err := pgcluster.Start(ctx, pgcluster.Config{Dir: "/var/tmp/narthex-dev"})
//	if err != nil {
//		return fmt.Errorf("start postgresql: %w", err)
//	}
//	defer c.Stop()
//	if err := c.CreateDatabase(ctx, "origin"); err != nil {
//		return err
//	}
//	pool, err := pgxpool.New(ctx, c.ConnString("origin"))
package pgcluster
