package origin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// retryAfter is the Retry-After of a 503 answered while the database is
// unreachable: long enough for PostgreSQL to restart or fail over, short
// enough that Nix, which retries 5xx answers a few times, still succeeds.
const retryAfter = 10 // seconds

// SQLSTATEs that say the database cannot take work right now.
const (
	sqlstateClassConnection = "08"    // connection exceptions
	sqlstateAdminShutdown   = "57P01" // server shutting down
	sqlstateCrashShutdown   = "57P02" // server crashed
	sqlstateCannotConnect   = "57P03" // server starting up or in recovery
	sqlstateTooManyConns    = "53300" // too many connections
	sqlstateDiskFull        = "53100" // PostgreSQL's own disk is full
)

// classify maps an error that is not an httpError to its answer when its
// kind is known: no space left (ENOSPC, EDQUOT, SQLSTATE 53100) is 507
// Insufficient Storage, and a database that cannot be reached or cannot
// take work is 503 Service Unavailable with a Retry-After. It returns nil
// for anything else, a 500. The request failed as a whole in both cases:
// stores commit nothing on a failed write and the database nothing on a
// failed statement.
func classify(err error) *httpError {
	switch {
	case noSpace(err):
		return &httpError{status: http.StatusInsufficientStorage,
			msg: "the origin is out of storage space; nothing was stored", err: err}
	case dbUnavailable(err):
		e := &httpError{status: http.StatusServiceUnavailable,
			msg: "the origin's database is unavailable; try again later", err: err}
		return e.withHeader("Retry-After", strconv.Itoa(retryAfter))
	}
	return nil
}

// noSpace reports whether err says a disk or quota is full.
func noSpace(err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pgErr.Code == sqlstateDiskFull
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// dbUnavailable reports whether err says the database could not be reached
// or is not taking work: a failed connect, a server that is shutting down,
// starting or out of connections, a connection that broke (a network
// error, or any error pgconn marks safe to retry because nothing was
// sent), or a statement that ran out of time.
func dbUnavailable(err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch pgErr.Code {
		case sqlstateAdminShutdown, sqlstateCrashShutdown, sqlstateCannotConnect, sqlstateTooManyConns:
			return true
		}
		return len(pgErr.Code) == 5 && pgErr.Code[:2] == sqlstateClassConnection
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded)
}
