// Package netnstest builds small networks of hosts for tests out of Linux
// network namespaces: each host is a namespace; a link is a veth pair
// between two hosts, or between a host and the namespace the test runs in
// (Self); a switch is a bridge in a namespace of its own that hosts plug
// into, each with an address on the switch's subnet. Processes run on a
// host through ip netns exec. A switch port can be cut and mended, as
// when a network between two sites fails: frames are lost without a word
// to either end, and connections across find out by their own timeouts.
//
// It owns the namespaces and interfaces it makes, and nothing else: their
// names carry a random tag of the run (namespaces also this process's id),
// they are removed when the test ends, pass or fail, and the namespaces of
// a test binary that died before removing them are removed by the next
// New. Addresses come from one 10.N.0.0/16 that no address or route of the
// test's namespace touches, and no host gets a route beyond its own links
// and switches, so nothing is forwarded between them. It needs root and
// iproute2's ip: a test without them fails under CI and skips elsewhere.
// It must never be imported by non-test code.
package netnstest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/narthex-cache/narthex/internal/testutil"
)

// namePrefix begins the name of every namespace this package makes; the
// process id (hex), the run's tag and the host's name follow, joined by
// '-'.
const namePrefix = "nxnet-"

// netnsDir is where ip netns keeps the namespaces it names.
const netnsDir = "/run/netns"

// Network is the hosts, links and switches of one test.
type Network struct {
	t      testing.TB
	ip     string // the ip program
	tag    string // 4 random hex digits, in every name
	subnet int    // N of 10.N.0.0/16
	nets   int    // subnets 10.N.k.0/24 handed out, k = 1...
	hosts  []*Host
	selfs  []string // interfaces made in the test's namespace
}

// Host is a network namespace standing for a machine.
type Host struct {
	// Name is the host's name in the test, such as "origin".
	Name string
	// NS is the namespace's name for ip netns; empty for Self.
	NS  string
	net *Network
}

// New makes an empty network, removed when the test ends. It checks that
// this process may make namespaces by making one: if it may not, the test
// fails under CI (the CI environment variable is set) and skips elsewhere.
func New(t testing.TB) *Network {
	t.Helper()
	var b [2]byte
	rand.Read(b[:])
	n := &Network{t: t, ip: testutil.Tool(t, "ip"), tag: hex.EncodeToString(b[:])}
	removeStale(t, n.ip)
	probe := n.nsName("probe")
	if out, err := exec.Command(n.ip, "netns", "add", probe).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("netnstest: this process may not make network namespaces: ip netns add: %v: %s", err, bytes.TrimSpace(out))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip("skipping off CI: " + msg)
	}
	n.run("netns", "del", probe)
	n.subnet = freeSubnet(t, n.ip)
	t.Cleanup(n.remove)
	return n
}

func (n *Network) nsName(host string) string {
	return namePrefix + strconv.FormatInt(int64(os.Getpid()), 16) + "-" + n.tag + "-" + host
}

// Self is the namespace the test runs in, as a host that links can reach.
func (n *Network) Self() *Host { return &Host{Name: "self", net: n} }

// AddHost makes a namespace for a host called name (letters, digits and
// '-'), with its loopback interface up.
func (n *Network) AddHost(name string) *Host {
	n.t.Helper()
	h := &Host{Name: name, NS: n.nsName(name), net: n}
	n.run("netns", "add", h.NS)
	n.hosts = append(n.hosts, h)
	h.ip("link", "set", "lo", "up")
	return h
}

// nextNet hands out the next 10.N.k.0/24, returning k.
func (n *Network) nextNet() int {
	n.t.Helper()
	if n.nets == 254 {
		n.t.Fatal("netnstest: more than 254 links and switches")
	}
	n.nets++
	return n.nets
}

// addr is 10.N.k.i.
func (n *Network) addr(k, i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(n.subnet), byte(k), byte(i)})
}

// devName names an interface of h: names in the test's namespace carry
// the run's tag, and all stay within Linux's 15 bytes.
func (n *Network) devName(h *Host, k int, end string) string {
	if h.NS == "" {
		name := fmt.Sprintf("nx%s%d%s", n.tag, k, end)
		n.selfs = append(n.selfs, name)
		return name
	}
	return fmt.Sprintf("nx%d%s", k, end)
}

// veth makes a veth pair, devA on a and devB on b.
func (n *Network) veth(a *Host, devA string, b *Host, devB string) {
	n.t.Helper()
	args := []string{"link", "add", devA}
	if a.NS != "" {
		args = append(args, "netns", a.NS)
	}
	args = append(args, "type", "veth", "peer", "name", devB)
	if b.NS != "" {
		args = append(args, "netns", b.NS)
	}
	n.run(args...)
}

// Command returns a command that runs program on h, through ip netns
// exec (which becomes program, keeping its process id).
func (h *Host) Command(program string, args ...string) *exec.Cmd {
	if h.NS == "" {
		return exec.Command(program, args...)
	}
	return exec.Command(h.net.ip, append([]string{"netns", "exec", h.NS, program}, args...)...)
}

// ip runs ip with args on h, failing the test if it fails.
func (h *Host) ip(args ...string) {
	h.net.t.Helper()
	if h.NS != "" {
		args = append([]string{"-n", h.NS}, args...)
	}
	h.net.run(args...)
}

// run runs ip with args, failing the test if it fails.
func (n *Network) run(args ...string) {
	n.t.Helper()
	if out, err := exec.Command(n.ip, args...).CombinedOutput(); err != nil {
		n.t.Fatalf("netnstest: ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// remove deletes the interfaces made in the test's namespace (the others
// go with their namespaces) and the namespaces. A namespace that a process
// still runs in lives on, nameless, until that process exits.
func (n *Network) remove() {
	for _, dev := range n.selfs {
		out, err := exec.Command(n.ip, "link", "del", dev).CombinedOutput()
		if err != nil && !bytes.Contains(out, []byte("Cannot find device")) {
			n.t.Errorf("netnstest: ip link del %s: %v: %s", dev, err, bytes.TrimSpace(out))
		}
	}
	for _, h := range n.hosts {
		if out, err := exec.Command(n.ip, "netns", "del", h.NS).CombinedOutput(); err != nil {
			n.t.Errorf("netnstest: ip netns del %s: %v: %s", h.NS, err, bytes.TrimSpace(out))
		}
	}
}

// removeStale deletes the namespaces of this package whose process is gone:
// a test binary killed before its cleanup ran.
func removeStale(t testing.TB, ip string) {
	t.Helper()
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), namePrefix)
		pidHex, _, ok2 := strings.Cut(rest, "-")
		if !ok || !ok2 {
			continue
		}
		pid, err := strconv.ParseInt(pidHex, 16, 32)
		if err != nil || pid <= 0 {
			continue
		}
		if _, err := os.Stat("/proc/" + strconv.FormatInt(pid, 10)); err == nil {
			continue // alive, or its id taken again: leave it
		}
		if out, err := exec.Command(ip, "netns", "del", e.Name()).CombinedOutput(); err != nil {
			t.Logf("netnstest: remove stale namespace %s: %v: %s", e.Name(), err, bytes.TrimSpace(out))
		}
	}
}

// freeSubnet picks N such that no address or route of the test's
// namespace overlaps 10.N.0.0/16.
func freeSubnet(t testing.TB, ip string) int {
	t.Helper()
	var used []netip.Prefix
	for _, args := range [][]string{{"-4", "-o", "addr", "show"}, {"-4", "route", "show", "table", "all"}} {
		out, err := exec.Command(ip, args...).Output()
		if err != nil {
			t.Fatalf("netnstest: ip %s: %v", strings.Join(args, " "), err)
		}
		for _, f := range strings.Fields(string(out)) {
			if p, err := netip.ParsePrefix(f); err == nil {
				used = append(used, p.Masked())
			} else if a, err := netip.ParseAddr(f); err == nil && a.Is4() {
				used = append(used, netip.PrefixFrom(a, 32))
			}
		}
	}
	for range 100 {
		v, _ := rand.Int(rand.Reader, big.NewInt(254-16))
		n := 16 + int(v.Int64())
		candidate := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(n), 0, 0}), 16)
		free := true
		for _, p := range used {
			if p.Bits() > 0 && p.Overlaps(candidate) {
				free = false
				break
			}
		}
		if free {
			return n
		}
	}
	t.Fatal("netnstest: no free 10.N.0.0/16")
	return 0
}
