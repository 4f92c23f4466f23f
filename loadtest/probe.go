package loadtest

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// prober tells whether a path is visible on one target.
type prober interface {
	visible(ctx context.Context, hash string) (bool, error)
	name() string
	kind() string
	close()
}

// edgeProber asks an edge for a narinfo over one keep-alive connection:
// 200 is there, 404 is not, anything else is an error.
type edgeProber struct {
	url  string
	conn *httpConn
	req  *getRequest
}

func newEdgeProber(raw string, u *url.URL, deadline time.Time) *edgeProber {
	return &edgeProber{
		url:  raw,
		conn: newHTTPConn(hostPort(u), deadline),
		req:  newGetRequest(u.Host, strings.TrimSuffix(u.EscapedPath(), "/"), ".narinfo"),
	}
}

func (p *edgeProber) visible(_ context.Context, hash string) (bool, error) {
	status, err := p.conn.do(p.req.withString(hash))
	switch {
	case err != nil:
		return false, err
	case status == 200:
		return true, nil
	case status == 404:
		return false, nil
	}
	return false, fmt.Errorf("narinfo answered %d", status)
}

func (p *edgeProber) name() string { return p.url }
func (p *edgeProber) kind() string { return "edge" }
func (p *edgeProber) close()       { p.conn.close() }

// sqlProber asks a database (a native subscriber) whether it holds a
// narinfo.
type sqlProber struct {
	conn *pgx.Conn
	host string
}

func newSQLProber(ctx context.Context, connString string) (*sqlProber, error) {
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return nil, fmt.Errorf("subscriber: connect: %w", err)
	}
	cfg := conn.Config()
	return &sqlProber{conn: conn, host: fmt.Sprintf("postgres %s:%d/%s", cfg.Host, cfg.Port, cfg.Database)}, nil
}

func (p *sqlProber) visible(ctx context.Context, hash string) (bool, error) {
	var ok bool
	err := p.conn.QueryRow(ctx, qPathPresent, hash).Scan(&ok)
	return ok, err
}

func (p *sqlProber) name() string { return p.host }
func (p *sqlProber) kind() string { return "subscriber" }
func (p *sqlProber) close()       { p.conn.Close(context.Background()) }
