package edge

import (
	"bytes"
	"time"

	"github.com/valyala/fasthttp"
)

var (
	narinfoSuffix   = []byte(".narinfo")
	narPrefix       = []byte("/nar/")
	typeNarinfo     = []byte("text/x-nix-narinfo")
	typeCacheInfo   = []byte("text/x-nix-cache-info")
	typeText        = []byte("text/plain; charset=utf-8")
	headerCacheCtl  = []byte("Cache-Control")
	headerAllow     = []byte("Allow")
	allowGetHead    = []byte("GET, HEAD")
	bodyNotFound    = []byte("not found\n")
	bodyBadMethod   = []byte("method not allowed: the edge is read-only; upload to the origin\n")
	bodyOK          = []byte("ok\n")
	bodyFound       = []byte("found\n")
	bodyReady       = []byte("ready\n")
	bodyNoReplica   = []byte("not ready: replica not bootstrapped yet\n")
	bodyUnavailable = []byte("replica not bootstrapped yet\n")
)

// isHash is a lookup table of the nixbase32 alphabet.
var isHash = func() (t [256]bool) {
	for _, c := range []byte("0123456789abcdfghijklmnpqrsvwxyz") {
		t[c] = true
	}
	return t
}()

// Handle answers one request. It is the edge's hot path: a narinfo hit or
// miss costs one replica lookup and no allocation.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	// Paths are matched as sent, not normalized: nothing here maps a path
	// to a file, and an encoded or dotted NAR path is refused.
	path := ctx.URI().PathOriginal()
	if !ctx.IsGet() && !ctx.IsHead() {
		if isKnownPath(path) {
			ctx.Response.Header.SetBytesKV(headerAllow, allowGetHead)
			s.plain(ctx, fasthttp.StatusMethodNotAllowed, bodyBadMethod)
			return
		}
		s.notFound(ctx)
		return
	}
	if len(path) == 1+32+len(narinfoSuffix) && bytes.HasSuffix(path, narinfoSuffix) {
		s.narinfo(ctx, path[1:33])
		return
	}
	if bytes.HasPrefix(path, narPrefix) {
		s.nar(ctx, path)
		return
	}
	switch string(path) {
	case "/nix-cache-info":
		ctx.SetStatusCode(fasthttp.StatusOK)
		ctx.Response.Header.SetContentTypeBytes(typeCacheInfo)
		ctx.SetBody(s.cacheInfo)
	case "/healthz":
		s.plain(ctx, fasthttp.StatusOK, bodyOK)
	case "/readyz":
		s.readyz(ctx)
	case "/metrics":
		s.promHandler(ctx)
	default:
		s.notFound(ctx)
	}
}

func isKnownPath(path []byte) bool {
	if bytes.HasSuffix(path, narinfoSuffix) || bytes.HasPrefix(path, narPrefix) {
		return true
	}
	switch string(path) {
	case "/nix-cache-info", "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

func (s *Server) narinfo(ctx *fasthttp.RequestCtx, hash []byte) {
	for _, c := range hash {
		if !isHash[c] {
			s.miss(ctx)
			return
		}
	}
	rep := s.src.Replica()
	if rep == nil {
		s.plain(ctx, fasthttp.StatusServiceUnavailable, bodyUnavailable)
		return
	}
	found, err := rep.WriteNarinfo(ctx, hash)
	if err != nil {
		s.metrics.errors.Inc()
		s.log.Error("narinfo lookup", "err", err)
		ctx.ResetBody()
		s.plain(ctx, fasthttp.StatusInternalServerError, []byte("replica read failed\n"))
		return
	}
	if !found {
		s.miss(ctx)
		return
	}
	s.metrics.hits.Inc()
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.Response.Header.SetContentTypeBytes(typeNarinfo)
	ctx.Response.Header.SetBytesKV(headerCacheCtl, s.hitCacheCtl)
}

func (s *Server) miss(ctx *fasthttp.RequestCtx) {
	s.metrics.misses.Inc()
	ctx.Response.Header.SetBytesKV(headerCacheCtl, s.missCacheCtl)
	s.plain(ctx, fasthttp.StatusNotFound, bodyNotFound)
}

// nar redirects a NAR download to the store that holds the file with the
// lowest download priority. The path is matched exactly, as sent, against
// the URLs the narinfos list (Guix's are percent-encoded), and never maps to
// a file here. A HEAD is answered here, not redirected: a URL presigned for
// GET answers 403 to HEAD, which Nix reads as "missing".
func (s *Server) nar(ctx *fasthttp.RequestCtx, path []byte) {
	rep := s.src.Replica()
	if rep == nil {
		s.plain(ctx, fasthttp.StatusServiceUnavailable, bodyUnavailable)
		return
	}
	locs, err := rep.Locations(string(path[1:]))
	if err != nil {
		s.metrics.errors.Inc()
		s.log.Error("nar lookup", "err", err)
		s.plain(ctx, fasthttp.StatusInternalServerError, []byte("replica read failed\n"))
		return
	}
	best := -1
	for i, l := range locs {
		if l.Store.Readable() && (best < 0 || l.Store.DownloadPriority < locs[best].Store.DownloadPriority) {
			best = i
		}
	}
	if best < 0 {
		s.metrics.narMisses.Inc()
		s.notFound(ctx)
		return
	}
	s.metrics.redirects.Inc()
	if ctx.IsHead() {
		s.plain(ctx, fasthttp.StatusOK, bodyFound)
		return
	}
	ctx.Response.Header.Set("Location", locs[best].URL())
	s.plain(ctx, fasthttp.StatusFound, bodyFound)
}

func (s *Server) readyz(ctx *fasthttp.RequestCtx) {
	st := s.src.Status()
	switch {
	case !st.Bootstrapped || s.src.Replica() == nil:
		s.plain(ctx, fasthttp.StatusServiceUnavailable, bodyNoReplica)
	case time.Since(st.CaughtUpAt) > s.cfg.MaxLag:
		s.plain(ctx, fasthttp.StatusServiceUnavailable,
			[]byte("not ready: replica last caught up "+time.Since(st.CaughtUpAt).Round(time.Second).String()+" ago\n"))
	default:
		s.plain(ctx, fasthttp.StatusOK, bodyReady)
	}
}

func (s *Server) notFound(ctx *fasthttp.RequestCtx) {
	s.plain(ctx, fasthttp.StatusNotFound, bodyNotFound)
}

func (s *Server) plain(ctx *fasthttp.RequestCtx, code int, body []byte) {
	ctx.SetStatusCode(code)
	ctx.Response.Header.SetContentTypeBytes(typeText)
	ctx.SetBody(body)
}
