package edge

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/replica"
	"github.com/narthex-cache/narthex/replication"
)

// source serves a replica built by the test, reported current unless
// status is set: what the edge sees of a replicator, without PostgreSQL.
type source struct {
	rep    *replica.Replica
	status func() replication.Status
}

func (s *source) Replica() *replica.Replica { return s.rep }

func (s *source) Status() replication.Status {
	if s.status != nil {
		return s.status()
	}
	return replication.Status{Bootstrapped: true, CaughtUpAt: time.Now()}
}

// newReplica bootstraps a replica holding the narinfo hitHash and the NAR
// files narURL and guixURL in one store, as a bootstrap copy of the origin
// in newEdge would.
func newReplica(t testing.TB) *replica.Replica {
	t.Helper()
	return replicaOf(t,
		row{"store", map[string]string{"id": "1", "name": "local", "kind": "local", "base_url": "http://origin.test", "download_priority": "50"}},
		row{"payload_location", map[string]string{"url": narURL, "store_id": "1", "key": narURL}},
		row{"payload_location", map[string]string{"url": guixURL, "store_id": "1", "key": guixKey}},
		row{"narinfo", map[string]string{"hash": hitHash, "body": hitBody}},
	)
}

// serve runs an edge server for src on a loopback port until the test
// ends, and returns its address.
func serve(t testing.TB, cfg Config, src Source) (addr string, srv *Server) {
	t.Helper()
	srv, err := New(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String(), srv
}
