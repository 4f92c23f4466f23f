package pgcluster

import (
	"context"
	"errors"
	"fmt"
)

// ErrExited means the server exited although nobody asked it to stop.
var ErrExited = errors.New("postgres exited unexpectedly")

// Wait returns when ctx ends or the server is stopped (nil), or when the
// server exits without Stop or Restart asking it to: then the error wraps
// ErrExited, names the exit status and quotes the end of the server log.
// A Restart does not end Wait; it goes on watching the new server.
func (c *Cluster) Wait(ctx context.Context) error {
	for {
		c.mu.Lock()
		p := c.proc
		c.mu.Unlock()
		if p == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.done:
		}
		if p.stopping.Load() {
			continue // Stop or Restart: look at the cluster again
		}
		err := fmt.Errorf("%w (pid %d, %v; log %s)", ErrExited, p.pid(), p.err, c.logPath)
		if tail := logSince(c.logPath, p.logOffset); tail != "" {
			err = fmt.Errorf("%w\n%s", err, tail)
		}
		return err
	}
}
