package netnstest

import (
	"fmt"
	"net/netip"
)

// Switch forwards frames between the hosts plugged into it: a bridge,
// without spanning tree, in a namespace of its own that has no address.
// Its hosts share a /24.
type Switch struct {
	Name   string
	host   *Host
	k      int // its subnet is 10.N.k.0/24
	bridge string
	ports  int
}

// Port is where a host is plugged into a switch.
type Port struct {
	Host *Host
	// Addr is the host's address on the switch's subnet.
	Addr netip.Addr
	sw   *Switch
	dev  string // the switch's end
}

// AddSwitch makes a switch called name (letters, digits and '-').
func (n *Network) AddSwitch(name string) *Switch {
	n.t.Helper()
	sw := &Switch{Name: name, host: n.AddHost(name), k: n.nextNet(), bridge: "br0"}
	sw.host.ip("link", "add", sw.bridge, "type", "bridge", "stp_state", "0")
	sw.host.ip("link", "set", sw.bridge, "up")
	return sw
}

// Plug links host h (which may be Self) to a new port of the switch and
// gives h the next address of the switch's subnet.
func (sw *Switch) Plug(h *Host) *Port {
	n := sw.host.net
	n.t.Helper()
	if sw.ports == 253 {
		n.t.Fatalf("netnstest: switch %s is full", sw.Name)
	}
	sw.ports++
	p := &Port{Host: h, Addr: n.addr(sw.k, sw.ports), sw: sw, dev: fmt.Sprintf("port%d", sw.ports)}
	hostDev := n.devName(h, sw.k, fmt.Sprintf("p%d", sw.ports))
	n.veth(h, hostDev, sw.host, p.dev)
	sw.host.ip("link", "set", p.dev, "master", sw.bridge)
	sw.host.ip("link", "set", p.dev, "up")
	h.ip("addr", "add", p.Addr.String()+"/24", "dev", hostDev)
	h.ip("link", "set", hostDev, "up")
	return p
}

// Cut takes the port down, as when the network between the switch and the
// host fails: the host's interface loses its carrier, the switch drops
// what it would send there, and neither end is told anything more. Both
// keep their addresses and routes, so what they send is lost, not
// refused, and connections across time out as they would across a WAN.
func (p *Port) Cut() {
	p.sw.host.net.t.Helper()
	p.sw.host.ip("link", "set", p.dev, "down")
}

// Mend brings a cut port up again.
func (p *Port) Mend() {
	p.sw.host.net.t.Helper()
	p.sw.host.ip("link", "set", p.dev, "up")
}
