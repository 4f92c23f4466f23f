package edge

import (
	"bytes"
	"errors"
	"sync"
	"time"

	"github.com/narthex-cache/narthex/replica"
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
	bodyCorrupt     = []byte("not ready: the replica is corrupt on disk and is being rebuilt\n")
	bodyUnavailable = []byte("replica not bootstrapped yet\n")
	bodyReadFailed  = []byte("replica read failed; try again\n")
	headerLocation  = []byte("Location")
)

// urlBufs hold the Location of a redirect while it is built, so that a
// redirect allocates nothing.
var urlBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

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
		ctx.ResetBody()
		s.readFailed(ctx, "narinfo lookup", err)
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

// nar redirects a NAR download to the readable store that holds the file
// with the highest download priority (replica.Store.DownloadsBefore). The path is matched exactly, as sent, against
// the URLs the narinfos list (Guix's are percent-encoded), and never maps to
// a file here. A HEAD is answered here, not redirected: a URL presigned for
// GET answers 403 to HEAD, which Nix reads as "missing".
func (s *Server) nar(ctx *fasthttp.RequestCtx, path []byte) {
	rep := s.src.Replica()
	if rep == nil {
		s.plain(ctx, fasthttp.StatusServiceUnavailable, bodyUnavailable)
		return
	}
	bp := urlBufs.Get().(*[]byte)
	defer urlBufs.Put(bp)
	var best *replica.Store
	err := rep.Locations(path[1:], func(st *replica.Store, key []byte) bool {
		if st.Readable() && (best == nil || st.DownloadsBefore(best)) {
			best = st
			*bp = st.AppendURL((*bp)[:0], key)
		}
		return true
	})
	if err != nil {
		s.readFailed(ctx, "nar lookup", err)
		return
	}
	if best == nil {
		s.metrics.narMisses.Inc()
		s.notFound(ctx)
		return
	}
	s.metrics.redirects.Inc()
	if ctx.IsHead() {
		s.plain(ctx, fasthttp.StatusOK, bodyFound)
		return
	}
	ctx.Response.Header.SetBytesKV(headerLocation, *bp)
	s.plain(ctx, fasthttp.StatusFound, bodyFound)
}

// readFailed answers a request the replica could not read for with 503,
// which clients retry: a corrupt replica is being rebuilt meanwhile, and
// other read errors are as passing.
func (s *Server) readFailed(ctx *fasthttp.RequestCtx, what string, err error) {
	s.metrics.errors.Inc()
	if !errors.Is(err, replica.ErrCorrupt) { // the replica logs that once
		s.errLog.log(s.log, what, err)
	}
	s.plain(ctx, fasthttp.StatusServiceUnavailable, bodyReadFailed)
}

func (s *Server) readyz(ctx *fasthttp.RequestCtx) {
	st := s.src.Status()
	rep := s.src.Replica()
	switch {
	case !st.Bootstrapped || rep == nil:
		s.plain(ctx, fasthttp.StatusServiceUnavailable, bodyNoReplica)
	case rep.Corrupt():
		s.plain(ctx, fasthttp.StatusServiceUnavailable, bodyCorrupt)
	case st.CaughtUpAt.IsZero():
		s.plain(ctx, fasthttp.StatusServiceUnavailable, []byte(notCaughtUp(st.LastCommit)))
	case time.Since(st.CaughtUpAt) > s.cfg.MaxLag:
		s.plain(ctx, fasthttp.StatusServiceUnavailable,
			[]byte("not ready: replica last caught up "+time.Since(st.CaughtUpAt).Round(time.Second).String()+" ago\n"))
	default:
		s.plain(ctx, fasthttp.StatusOK, bodyReady)
	}
}

// notCaughtUp says why an edge that has not reached the origin since it
// started is not ready, and how old its replica is, if known.
func notCaughtUp(lastCommit time.Time) string {
	msg := "not ready: the replica has not caught up with the origin since the edge started"
	if lastCommit.IsZero() {
		return msg + "; the time of its last applied commit is unknown\n"
	}
	return msg + "; its last applied commit is " + time.Since(lastCommit).Round(time.Second).String() + " old\n"
}

func (s *Server) notFound(ctx *fasthttp.RequestCtx) {
	s.plain(ctx, fasthttp.StatusNotFound, bodyNotFound)
}

// plain answers with code and a text body. The body is sent as it is, not
// copied: every caller passes a slice nothing changes afterwards.
func (s *Server) plain(ctx *fasthttp.RequestCtx, code int, body []byte) {
	ctx.SetStatusCode(code)
	ctx.Response.Header.SetContentTypeBytes(typeText)
	ctx.Response.SetBodyRaw(body)
}
