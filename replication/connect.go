package replication

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sys/unix"

	"github.com/narthex-cache/narthex/replica"
)

// refused reports whether err, from connecting or from a session's setup,
// means the origin refuses this edge for a reason retrying cannot heal: the
// database does not exist, the password or role is wrong, pg_hba.conf
// turns the edge away, the role may not replicate, or the connection string
// does not parse. Everything else heals, or may: a refused or reset
// connection, a server starting or shutting down, too many connections, a
// timeout.
func refused(err error) bool {
	var pce *pgconn.ParseConfigError
	if errors.As(err, &pce) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "3D000", // invalid_catalog_name: no such database
		"28000", // invalid_authorization_specification: no such role, or pg_hba.conf refuses
		"28P01", // invalid_password
		"42501": // insufficient_privilege: the role lacks REPLICATION (or a grant)
		return true
	}
	return false
}

// connect opens a replication connection whose socket gives up on a peer
// that stops answering: keepalive probes find an idle dead path, and
// TCP_USER_TIMEOUT one with unacknowledged writes (a status report, every
// StatusInterval), each within about three StatusIntervals, so no read or
// write on the connection blocks for longer.
func (r *Replicator) connect(ctx context.Context) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(replicationConnString(r.cfg.ConnString))
	if err != nil {
		return nil, err
	}
	timeout := r.cfg.unackedTimeout()
	probe := max(timeout/4, time.Second)
	d := &net.Dialer{
		Timeout:         timeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: probe, Interval: probe, Count: 3},
		Control: func(network, address string, c syscall.RawConn) error {
			if !strings.HasPrefix(network, "tcp") {
				return nil
			}
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(timeout.Milliseconds()))
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	cfg.DialFunc = d.DialContext
	return pgconn.ConnectConfig(ctx, cfg)
}

// registerEdge records the edge and the slot it follows, so that the origin
// can tell which slots belong to live edges, and that it serves the
// replica of that slot: a rebuild is over.
func registerEdge(ctx context.Context, conn *pgconn.PgConn, edge, slot string) error {
	q := fmt.Sprintf(`INSERT INTO edge (name, slot_name) VALUES ('%s', '%s')
		ON CONFLICT (name) DO UPDATE SET slot_name = EXCLUDED.slot_name, last_seen = now(),
			rebuilding_since = NULL, serving_lsn = NULL`, edge, slot)
	if _, err := conn.Exec(ctx, q).ReadAll(); err != nil {
		return fmt.Errorf("register edge: %w", err)
	}
	return nil
}

// markRebuilding records that the edge bootstraps a new replica while it
// serves an old one that holds everything up to served (nil when that is
// unknown), so that garbage collection keeps the payloads the old one may
// send clients to (gc's fence). An edge the origin does not know has no
// row to mark.
func markRebuilding(ctx context.Context, conn *pgconn.PgConn, edge string, served *pglogrepl.LSN) error {
	lsn := "NULL"
	if served != nil {
		lsn = "'" + served.String() + "'"
	}
	q := fmt.Sprintf(`UPDATE edge SET rebuilding_since = now(), last_seen = now(), serving_lsn = %s WHERE name = '%s'`, lsn, edge)
	if _, err := conn.Exec(ctx, q).ReadAll(); err != nil {
		return fmt.Errorf("record the rebuild: %w", err)
	}
	return nil
}

// servedLSN is the origin LSN a replica in state m holds everything up
// to, nil when it is unknown: a state that could not be read, or one of
// another origin system, whose positions mean nothing here.
func servedLSN(m replica.State, system string) *pglogrepl.LSN {
	if m.System != system || m.LSN == 0 {
		return nil
	}
	return &m.LSN
}

// replicationConnString adds replication=database to a connection string in
// URL or keyword/value form.
func replicationConnString(s string) string {
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		u, err := url.Parse(s)
		if err == nil {
			q := u.Query()
			q.Set("replication", "database")
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return s + " replication=database"
}
