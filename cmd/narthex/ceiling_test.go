package main

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/edge"
	"github.com/narthex-cache/narthex/loadtest"
	"github.com/narthex-cache/narthex/replica"
	"github.com/narthex-cache/narthex/replica/replicafill"
	"github.com/narthex-cache/narthex/replication"
)

// fixedSource serves a replica built by the test, always current.
type fixedSource struct{ rep *replica.Replica }

func (s fixedSource) Replica() *replica.Replica { return s.rep }
func (s fixedSource) Status() replication.Status {
	return replication.Status{Bootstrapped: true, CaughtUpAt: time.Now()}
}

// serveTestEdge serves an edge configured as cfg, over a replica holding
// rows, on a loopback port until the test ends, and returns its address.
func serveTestEdge(t *testing.T, cfg edge.Config, rows ...replicafill.Row) string {
	t.Helper()
	rep := replicafill.Load(t, replica.Options{MemoryCacheBytes: 1 << 20}, rows...)
	srv, err := edge.New(cfg, fixedSource{rep})
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
	return ln.Addr().String()
}

// rawAnswer sends one GET to addr and returns the status line and header
// lines of the answer as sent, and its body length.
func rawAnswer(t *testing.T, addr, path string) (status string, header []string, bodyLen int) {
	t.Helper()
	return rawAnswerFrom(t, "", addr, path)
}

// The ceilings the benchmarks compare the edge with answer a hit and a miss
// with the very status, headers and body size the edge sends, so that a
// ratio measures the edge's work and not a difference in what is sent.
func TestCeiling_AnswersAsTheEdge(t *testing.T) {
	t.Parallel()
	body := loadtest.TypicalBody()
	hash := strings.TrimPrefix(strings.SplitN(string(body), "\n", 2)[0], "StorePath: /nix/store/")[:32]

	edgeAddr := serveTestEdge(t, edge.Config{}, replicafill.Row{Table: "narinfo", Cols: map[string]string{"hash": hash, "body": string(body)}})

	miss := strings.Repeat("0", 31) + "a"
	for _, tc := range []struct {
		name string
		miss bool
		path string
	}{
		{"hit", false, "/" + hash + ".narinfo"},
		{"miss", true, "/" + miss + ".narinfo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadtest.NewCeiling(loadtest.CeilingConfig{Listen: "127.0.0.1:0", Miss: tc.miss})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); c.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })

			es, eh, el := rawAnswer(t, edgeAddr, tc.path)
			cs, ch, cl := rawAnswer(t, c.Addr(), tc.path)
			if es != cs || !slices.Equal(eh, ch) || el != cl {
				t.Errorf("edge: %s %q, %d bytes\nceiling: %s %q, %d bytes", es, eh, el, cs, ch, cl)
			}
		})
	}
}
