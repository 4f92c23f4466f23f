package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// startTimeout bounds the wait for a started server to accept
	// connections.
	startTimeout = 30 * time.Second
	// pingTimeout bounds one connection attempt.
	pingTimeout = 2 * time.Second
)

// waitReady polls until the server accepts connections, failing as soon as
// the postmaster exits.
func (c *Cluster) waitReady(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	// An exit also ends a connection attempt in flight, which may otherwise
	// wait pingTimeout on whatever holds the port.
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := c.ping(ctx)
		switch {
		case err == nil:
			return nil
		case p.exited() && p.err == nil:
			return errors.New("postgres exited during startup")
		case p.exited():
			return fmt.Errorf("postgres exited during startup: %w", p.err)
		case ctx.Err() != nil:
			return fmt.Errorf("wait for connections: %w (last attempt: %v)", ctx.Err(), err)
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// ping connects once and checks that the server answering on the port runs
// on this cluster's data directory, not some other server that held the
// port while this one failed to bind it.
func (c *Cluster) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.ConnString("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var dataDir string
	if err := conn.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&dataDir); err != nil {
		return err
	}
	if dataDir != c.dataDir {
		return fmt.Errorf("port %d is served by the cluster in %s", c.port, dataDir)
	}
	return nil
}
