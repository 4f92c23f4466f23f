package pgcluster

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStart_KeepsPort restarts a cluster started with Port 0 and expects
// the port it picked the first time.
func TestStart_KeepsPort(t *testing.T) {
	t.Parallel()
	dir := clusterDir(t)
	c := startCluster(t, Config{Dir: dir})
	port := c.Port()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	c = startCluster(t, Config{Dir: dir})
	if c.Port() != port {
		t.Errorf("port after restart = %d, want %d", c.Port(), port)
	}
}

func TestCluster_Wait(t *testing.T) {
	t.Parallel()
	c, err := Start(t.Context(), Config{Dir: clusterDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Stop reports the death this test causes; Wait is what is tested.
	t.Cleanup(func() { _ = c.Stop() })

	// Restart and Stop do not end Wait with an error.
	waited := make(chan error, 1)
	go func() { waited <- c.Wait(t.Context()) }()
	if err := c.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		t.Fatalf("Wait returned %v on Restart", err)
	case <-time.After(500 * time.Millisecond):
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Wait(ctx); err != nil {
		t.Errorf("Wait with an ended context = %v, want nil", err)
	}

	// A server that dies ends Wait with ErrExited.
	c.mu.Lock()
	pid := c.proc.pid()
	c.mu.Unlock()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), c.LogPath()) {
			t.Errorf("Wait after the server died = %v, want ErrExited naming the log", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Wait did not return within 30s of the server's death")
	}
	if c.Running() {
		t.Error("Running() = true after the server died")
	}
	waitLeft(t, c.dataDir)
}

// TestStart_CanceledInitdb cancels Start while initdb runs: the error is the
// cancellation, without initdb's output, and the next Start succeeds.
func TestStart_CanceledInitdb(t *testing.T) {
	t.Parallel()
	dir := clusterDir(t)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	c, err := Start(ctx, Config{Dir: dir})
	if err == nil {
		c.Stop()
		t.Skip("initdb finished within 100ms; nothing was canceled")
	}
	if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "\n") {
		t.Errorf("Start canceled during initdb = %q, want the cancellation alone, on one line", err)
	}
	startCluster(t, Config{Dir: dir})
}
