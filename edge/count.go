package edge

import (
	"bytes"
	"net/netip"

	"github.com/valyala/fasthttp"

	"github.com/narthex-cache/narthex/analytics"
)

// count counts a request of kind for key, and the request by its client's
// family, when the edge counts fetches. It allocates nothing.
func (s *Server) count(ctx *fasthttp.RequestCtx, kind analytics.Kind, key []byte) {
	if s.cfg.Analytics != nil {
		s.countFrom(ctx, s.clientAddr(ctx), kind, key)
	}
}

// countFrom is count for a request whose client address is known.
func (s *Server) countFrom(ctx *fasthttp.RequestCtx, client netip.Addr, kind analytics.Kind, key []byte) {
	a := s.cfg.Analytics
	if a == nil {
		return
	}
	country := s.geo.country(client)
	hour := a.Hour()
	a.Add(kind, key, country, hour)
	var buf [maxFamilyLen]byte
	a.Add(analytics.Client, clientFamily(buf[:0], ctx.Request.Header.UserAgent()), country, hour)
}

// maxFamilyLen bounds a client family's name: "nix/" and a version.
const maxFamilyLen = 36

var (
	nixAgent  = []byte("Nix/")
	curlAgent = []byte("curl/")
	guileUA   = []byte("Guile")
)

// clientFamily appends to dst the family of the client that sent user
// agent ua: "nix/<version>" (Nix sends "curl/<version> Nix/<version>"),
// "guix" (Guix fetches with Guile's HTTP client, "GNU Guile"), "curl", or
// "other".
func clientFamily(dst, ua []byte) []byte {
	if i := bytes.Index(ua, nixAgent); i >= 0 {
		dst = append(dst, "nix/"...)
		for _, c := range ua[i+len(nixAgent):] {
			if len(dst) == maxFamilyLen || !versionChar(c) {
				break
			}
			dst = append(dst, c)
		}
		return dst
	}
	switch {
	case bytes.Contains(ua, guileUA):
		return append(dst, "guix"...)
	case bytes.HasPrefix(ua, curlAgent):
		return append(dst, "curl"...)
	}
	return append(dst, "other"...)
}

func versionChar(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.' || c == '-' || c == '+' || c == '_'
}
