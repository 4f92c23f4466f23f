package loadtest_test

import (
	"context"
	"crypto/tls"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/loadtest"
)

// A ceiling serves HTTPS with its TLS configuration, and lookups over
// https:// check the server's certificate against the roots they are
// given: every answer right with them, no run without them.
func TestCeiling_TLS(t *testing.T) {
	self := testutil.SelfSigned(t, "127.0.0.1", time.Hour)
	cert, roots := self.TLS, self.Roots()
	c, err := loadtest.NewCeiling(loadtest.CeilingConfig{Listen: "127.0.0.1:0",
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := c.Run(ctx); err != nil {
			t.Errorf("ceiling: %v", err)
		}
	}()
	defer func() { cancel(); <-done }()
	url := "https://" + c.Addr()
	results, err := loadtest.Lookup(t.Context(), loadtest.LookupConfig{URLs: []string{url}, Keys: 10, Seed: 1, HitRatio: 1,
		Connections: 2, Duration: time.Minute, Requests: 100, TLSRoots: roots})
	if err != nil {
		t.Fatal(err)
	}
	if r := results[0]; r.Requests != 100 || r.Errors != 0 {
		t.Errorf("over HTTPS: %d requests, %d errors; want 100 and none", r.Requests, r.Errors)
	}
	_, err = loadtest.Lookup(t.Context(), loadtest.LookupConfig{URLs: []string{url}, Keys: 10, Seed: 1, HitRatio: 1,
		Connections: 1, Duration: time.Second, Requests: 1})
	if err == nil || !strings.Contains(err.Error(), "tls handshake") {
		t.Errorf("without the roots: %v, want a handshake error", err)
	}
}

// With NewConnections every request comes on a connection of its own,
// each a full TLS handshake that the server sees (none resumed), counted
// in the result; kept-alive connections shake hands once, before the run.
func TestLookup_NewConnections(t *testing.T) {
	self := testutil.SelfSigned(t, "127.0.0.1", time.Hour)
	cert, roots := self.TLS, self.Roots()
	var full, resumed atomic.Int64
	c, err := loadtest.NewCeiling(loadtest.CeilingConfig{Listen: "127.0.0.1:0", TLS: &tls.Config{
		Certificates: []tls.Certificate{cert},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if cs.DidResume {
				resumed.Add(1)
			} else {
				full.Add(1)
			}
			return nil
		}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := c.Run(ctx); err != nil {
			t.Errorf("ceiling: %v", err)
		}
	}()
	defer func() { cancel(); <-done }()
	lookup := func(newConns bool) *loadtest.LookupResult {
		t.Helper()
		full.Store(0)
		resumed.Store(0)
		results, err := loadtest.Lookup(t.Context(), loadtest.LookupConfig{URLs: []string{"https://" + c.Addr()}, Keys: 10, Seed: 1,
			HitRatio: 1, Connections: 2, Duration: time.Minute, Requests: 50, TLSRoots: roots, NewConnections: newConns})
		if err != nil {
			t.Fatal(err)
		}
		return results[0]
	}

	r := lookup(true)
	if r.Requests != 50 || r.Errors != 0 || r.Connects != 50 || !r.NewConnections {
		t.Errorf("new connections: %d requests, %d errors, %d connections made; want 50, none, 50", r.Requests, r.Errors, r.Connects)
	}
	// Two more handshakes: the connections that showed the server was there.
	if f, res := full.Load(), resumed.Load(); f != 52 || res != 0 {
		t.Errorf("new connections: the server saw %d full handshakes and %d resumed; want 52 and none", f, res)
	}

	r = lookup(false)
	if r.Requests != 50 || r.Errors != 0 || r.Connects != 0 {
		t.Errorf("kept alive: %d requests, %d errors, %d connections made; want 50, none, none", r.Requests, r.Errors, r.Connects)
	}
	if f, res := full.Load(), resumed.Load(); f != 2 || res != 0 {
		t.Errorf("kept alive: the server saw %d full handshakes and %d resumed; want 2 and none", f, res)
	}
}
