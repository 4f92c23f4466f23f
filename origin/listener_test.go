package origin

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The plain and HTTPS listeners of a server share one limit per client
// address; a refused HTTPS connection is closed without the plain-HTTP
// refusal, which a TLS client could not read.
func TestClientLimitListener_SharedAcrossListeners(t *testing.T) {
	conns := newClientConns()
	refused := prometheus.NewCounter(prometheus.CounterOpts{Name: "refused"})
	listen := func(answer bool) *clientLimitListener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return newClientLimitListener(ln, conns, 1, answer, refused, slog.Default())
	}
	plain, https := listen(true), listen(false)
	accepted := func(l *clientLimitListener) <-chan net.Conn {
		ch := make(chan net.Conn, 1)
		go func() {
			if c, err := l.Accept(); err == nil {
				ch <- c
			}
		}()
		return ch
	}
	dial := func(l net.Listener) net.Conn {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	dial(plain)
	var held net.Conn
	select {
	case held = <-accepted(plain):
	case <-time.After(time.Minute):
		t.Fatal("the first connection was not accepted")
	}
	second := accepted(https)
	c := dial(https)
	c.SetReadDeadline(time.Now().Add(time.Minute))
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("an HTTPS connection over the shared limit read %q, %v; want it closed without a word", b, err)
	}
	held.Close()
	dial(https)
	select {
	case c := <-second:
		c.Close()
	case <-time.After(time.Minute):
		t.Fatal("an HTTPS connection was not accepted once the plain one closed")
	}
}
