package netnstest

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// TestNetwork_CutAndMend serves TCP on a host and reaches it through a
// switch from the test's namespace, not while the host's port is cut,
// again once it is mended, and over a link; a host linked only to another
// host has no way to the test's namespace; everything is gone after the
// test.
func TestNetwork_CutAndMend(t *testing.T) {
	if addr := os.Getenv(serveEnv); addr != "" {
		serve(addr)
	}
	var names []string
	t.Run("network", func(t *testing.T) {
		n := New(t)
		a, b := n.AddHost("a"), n.AddHost("b")
		sw := n.AddSwitch("sw")
		names = []string{a.NS, b.NS, sw.host.NS}
		sw.Plug(n.Self())
		port := sw.Plug(a)
		toA := n.Connect(n.Self(), a)
		n.Connect(a, b)

		// A listener on a, answering "hi" to every connection: a shell
		// loop would need a netcat, so the test binary serves.
		srv := a.Command(os.Args[0], "-test.run=^TestNetwork_CutAndMend$")
		srv.Env = append(os.Environ(), serveEnv+"=0.0.0.0:7000")
		out, err := srv.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { srv.Process.Kill(); srv.Wait() }()
		if sc := bufio.NewScanner(out); !sc.Scan() || sc.Text() != "listening" {
			t.Fatalf("helper did not listen: %q", sc.Text())
		}

		dial := func(addr netip.Addr) error {
			c, err := net.DialTimeout("tcp", addr.String()+":7000", 2*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err == nil && line != "hi\n" {
				err = fmt.Errorf("read %q", line)
			}
			return err
		}
		if err := dial(port.Addr); err != nil {
			t.Fatalf("through the switch: %v", err)
		}
		port.Cut()
		if err := dial(port.Addr); err == nil {
			t.Fatal("reached a through its cut port")
		}
		if err := dial(toA.AddrB); err != nil {
			t.Fatalf("over the link while the port is cut: %v", err)
		}
		port.Mend()
		if err := dial(port.Addr); err != nil {
			t.Fatalf("through the mended port: %v", err)
		}
		// b has no route to the test's namespace.
		probe := b.Command("ip", "route", "get", toA.AddrA.String())
		if out, err := probe.CombinedOutput(); err == nil {
			t.Errorf("b has a route to the test's end of a's link: %s", out)
		}
	})
	for _, ns := range names {
		if _, err := os.Stat(netnsDir + "/" + ns); err == nil {
			t.Errorf("namespace %s left after the test", ns)
		}
	}
}

// serveEnv, when set, makes TestNetwork_CutAndMend listen on the address
// it names and answer "hi" to every connection, until it is killed.
const serveEnv = "NETNSTEST_SERVE"

func serve(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("listening")
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		fmt.Fprint(c, "hi\n")
		c.Close()
	}
}
