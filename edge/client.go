package edge

import (
	"bytes"
	"net"
	"net/netip"
	"unsafe"

	"github.com/valyala/fasthttp"
)

var headerForwardedFor = []byte("X-Forwarded-For")

// clientAddr is the address of the client a request is from: the socket's
// peer, or, when that peer is a trusted proxy, the right-most address of
// X-Forwarded-For that is not a trusted proxy. Addresses further left were
// written by the client itself (or by proxies nobody vouches for) and are
// never believed. It allocates nothing.
func (s *Server) clientAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	peer := socketAddr(ctx)
	if len(s.cfg.TrustedProxies) == 0 || !s.trusted(peer) {
		return peer
	}
	// Headers are kept as sent (the server does not normalize their
	// names), and a proxy may add its own X-Forwarded-For line beside the
	// client's: every line, in order, is one list.
	var client netip.Addr
	for k, v := range ctx.Request.Header.All() {
		if bytes.EqualFold(k, headerForwardedFor) {
			client = s.forwardedFor(client, v)
		}
	}
	if !client.IsValid() {
		return peer
	}
	return client
}

// forwardedFor extends the choice made from the X-Forwarded-For entries
// before list with those of list. Read from the right, the choice is the
// first address that is not a trusted proxy, or the left-most if all are;
// an entry that is not an address ends the reading, since nothing left of
// it can be told apart from what a client forged. So, left to right: an
// untrusted address is chosen, a trusted one only when nothing is, and a
// malformed entry forgets the choice.
func (s *Server) forwardedFor(client netip.Addr, list []byte) netip.Addr {
	for len(list) > 0 {
		var entry []byte
		if i := bytes.IndexByte(list, ','); i >= 0 {
			entry, list = list[:i], list[i+1:]
		} else {
			entry, list = list, nil
		}
		entry = bytes.TrimSpace(entry)
		if len(entry) == 0 {
			continue
		}
		addr, ok := parseForwarded(entry)
		switch {
		case !ok:
			client = netip.Addr{}
		case !s.trusted(addr) || !client.IsValid():
			client = addr
		}
	}
	return client
}

// parseForwarded reads one X-Forwarded-For entry: an address, possibly
// with a port (some proxies add one), IPv6 then in brackets.
func parseForwarded(b []byte) (netip.Addr, bool) {
	// The string is only read while parsing: a zone is copied out.
	str := unsafe.String(unsafe.SliceData(b), len(b))
	if a, err := netip.ParseAddr(str); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(str); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// trusted reports whether addr is one of Config.TrustedProxies.
func (s *Server) trusted(addr netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// socketAddr is the address of the request's peer; the event loops set it
// once per connection.
func socketAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	tcp, ok := ctx.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(tcp.IP)
	return a.Unmap()
}
