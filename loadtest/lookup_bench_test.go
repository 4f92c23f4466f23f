package loadtest

import (
	"context"
	"testing"
	"time"
)

// BenchmarkLookup_Request measures one closed-loop lookup request against
// a ceiling server: the generator's own cost per request, which must stay
// free of allocations.
func BenchmarkLookup_Request(b *testing.B) {
	c, err := NewCeiling(CeilingConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	keys, err := newKeySet(1, 1000)
	if err != nil {
		b.Fatal(err)
	}
	w := &lookupWorker{
		conn: newHTTPConn(c.Addr(), time.Now().Add(time.Hour)),
		req:  newGetRequest(c.Addr(), "", ".narinfo"),
		pick: newPicker(keys, DistZipf, DefaultZipfExponent, 0.5, 1, 0),
		hist: newHistogram(),
	}
	defer w.conn.close()
	w.one()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w.one()
	}
	b.StopTimer()
	if w.transport != 0 {
		b.Fatalf("%d transport errors: %v", w.transport, w.firstErr)
	}
}

func BenchmarkSynth_Path(b *testing.B) {
	s := NewSynth(1, DefaultRefsMax)
	b.ReportAllocs()
	for i := range b.N {
		s.Path(1_000_000 + i%1000)
	}
}
