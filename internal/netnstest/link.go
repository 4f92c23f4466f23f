package netnstest

import "net/netip"

// Link is a veth pair between hosts A and B, with an address at each end
// on a /30 of its own.
type Link struct {
	A, B         *Host
	AddrA, AddrB netip.Addr
}

// Connect links hosts a and b (either may be Self) and brings the link up.
func (n *Network) Connect(a, b *Host) *Link {
	n.t.Helper()
	k := n.nextNet()
	l := &Link{A: a, B: b, AddrA: n.addr(k, 1), AddrB: n.addr(k, 2)}
	devA, devB := n.devName(a, k, "a"), n.devName(b, k, "b")
	n.veth(a, devA, b, devB)
	for _, end := range []struct {
		h    *Host
		dev  string
		addr netip.Addr
	}{{a, devA, l.AddrA}, {b, devB, l.AddrB}} {
		end.h.ip("addr", "add", end.addr.String()+"/30", "dev", end.dev)
		end.h.ip("link", "set", end.dev, "up")
	}
	return l
}
