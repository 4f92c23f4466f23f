package edge

import (
	"bytes"
	"errors"
	"time"

	"github.com/narthex-cache/narthex/analytics"
	"github.com/narthex-cache/narthex/replica"
	"github.com/valyala/fasthttp"
)

// storeKindS3 is the kind of an S3 store, whose files are downloaded by
// presigned URLs when it has no public base URL.
const storeKindS3 = "s3"

var (
	narinfoSuffix = []byte(".narinfo")
	narPrefix     = []byte("/nar/")
	// acmeChallengePrefix is the path of ACME HTTP-01 challenges.
	acmeChallengePrefix = []byte("/.well-known/acme-challenge/")
	typeNarinfo         = []byte("text/x-nix-narinfo")
	typeCacheInfo       = []byte("text/x-nix-cache-info")
	typeText            = []byte("text/plain; charset=utf-8")
	headerCacheCtl      = []byte("Cache-Control")
	headerAllow         = []byte("Allow")
	allowGetHead        = []byte("GET, HEAD")
	bodyNotFound        = []byte("not found\n")
	bodyBadMethod       = []byte("method not allowed: the edge is read-only; upload to the origin\n")
	bodyOK              = []byte("ok\n")
	bodyFound           = []byte("found\n")
	bodyReady           = []byte("ready\n")
	bodyNoReplica       = []byte("not ready: replica not bootstrapped yet\n")
	bodyCorrupt         = []byte("not ready: the replica is corrupt on disk and is being rebuilt\n")
	bodyUnavailable     = []byte("replica not bootstrapped yet\n")
	bodyReadFailed      = []byte("replica read failed; try again\n")
	headerLocation      = []byte("Location")
	bodyUnreachable     = []byte("no store holding the file can be reached from this edge; try again\n")
)

// isHash is a lookup table of the nixbase32 alphabet.
var isHash = func() (t [256]bool) {
	for _, c := range []byte("0123456789abcdfghijklmnpqrsvwxyz") {
		t[c] = true
	}
	return t
}()

// Handle answers one request. It is the edge's hot path: a narinfo hit or
// miss costs one replica lookup and no allocation. Every engine answers
// through it, so the time of each answer is recorded here, by route and
// status.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	r := s.handle(ctx)
	s.metrics.requests.observe(r, ctx.Response.StatusCode(), start)
}

// handle answers one request and says which route answered it.
func (s *Server) handle(ctx *fasthttp.RequestCtx) route {
	// Paths are matched as sent, not normalized: nothing here maps a path
	// to a file, and an encoded or dotted NAR path is refused.
	path := ctx.URI().PathOriginal()
	if !ctx.IsGet() && !ctx.IsHead() {
		r := knownRoute(path)
		if r != routeOther {
			ctx.Response.Header.SetBytesKV(headerAllow, allowGetHead)
			s.plain(ctx, fasthttp.StatusMethodNotAllowed, bodyBadMethod)
			return r
		}
		s.notFound(ctx)
		return routeOther
	}
	if len(path) == 1+32+len(narinfoSuffix) && bytes.HasSuffix(path, narinfoSuffix) {
		s.narinfo(ctx, path[1:33])
		return routeNarinfo
	}
	if bytes.HasPrefix(path, narPrefix) {
		s.nar(ctx, path)
		return routeNar
	}
	switch string(path) {
	case "/nix-cache-info":
		ctx.SetStatusCode(fasthttp.StatusOK)
		ctx.Response.Header.SetContentTypeBytes(typeCacheInfo)
		ctx.SetBody(s.cacheInfo)
		return routeCacheInfo
	case "/healthz":
		s.plain(ctx, fasthttp.StatusOK, bodyOK)
		return routeHealthz
	case "/readyz":
		s.readyz(ctx)
		return routeReadyz
	case "/metrics":
		s.promHandler(ctx)
		return routeMetrics
	}
	if s.cfg.ACMEChallenge != nil && bytes.HasPrefix(path, acmeChallengePrefix) && s.cfg.ACMEChallenge(ctx) {
		return routeOther
	}
	s.notFound(ctx)
	return routeOther
}

// knownRoute is the route of a path the edge serves to GET and HEAD, by
// its form alone, and routeOther for any other path.
func knownRoute(path []byte) route {
	switch {
	case bytes.HasSuffix(path, narinfoSuffix):
		return routeNarinfo
	case bytes.HasPrefix(path, narPrefix):
		return routeNar
	}
	switch string(path) {
	case "/nix-cache-info":
		return routeCacheInfo
	case "/healthz":
		return routeHealthz
	case "/readyz":
		return routeReadyz
	case "/metrics":
		return routeMetrics
	}
	return routeOther
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
		s.count(ctx, analytics.Miss, hash)
		s.miss(ctx)
		return
	}
	s.count(ctx, analytics.Hit, hash)
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

// nar redirects a NAR download to the nearest good copy of the file
// (rank.go), in a readable store. The path is matched exactly, as sent,
// against the URLs the narinfos list (Guix's are percent-encoded), and
// never maps to a file here. A HEAD is answered here, not redirected: a
// URL presigned for GET answers 403 to HEAD, which Nix reads as "missing".
func (s *Server) nar(ctx *fasthttp.RequestCtx, path []byte) {
	rep := s.src.Replica()
	if rep == nil {
		s.plain(ctx, fasthttp.StatusServiceUnavailable, bodyUnavailable)
		return
	}
	rd := redirects.Get().(*redirect)
	defer redirects.Put(rd)
	rd.reset()
	err := rep.EachLocation(path[1:], func(st *replica.Store, key []byte, state replica.LocationState) bool {
		return rd.add(st, key, state)
	})
	if err != nil {
		s.readFailed(ctx, "nar lookup", err)
		return
	}
	if len(rd.cands) == 0 {
		if rd.copies == 0 {
			s.metrics.narMisses.Inc()
		} else {
			s.metrics.narNoGoodCopy.Inc()
		}
		s.notFound(ctx)
		return
	}
	if ctx.IsHead() {
		s.metrics.redirects.Inc()
		s.plain(ctx, fasthttp.StatusOK, bodyFound)
		return
	}
	// The client's address, read once for the ranking and the count.
	client := s.clientAddr(ctx)
	s.metrics.ranked[s.rank(client, rd)].Inc()
	for len(rd.cands) > 0 {
		i := rd.best()
		if s.setLocation(ctx, rd, &rd.cands[i]) {
			s.countFrom(ctx, client, analytics.Redirect, path[1:])
			s.metrics.redirects.Inc()
			s.plain(ctx, fasthttp.StatusFound, bodyFound)
			return
		}
		rd.drop(i)
	}
	s.metrics.narUnreachable.Inc()
	s.plain(ctx, fasthttp.StatusServiceUnavailable, bodyUnreachable)
}

// setLocation sets the Location of a redirect to c: the store's public URL
// of the file, or for a private S3 store (no base URL) a presigned one. It
// reports false for a store the client cannot be sent to.
func (s *Server) setLocation(ctx *fasthttp.RequestCtx, rd *redirect, c *candidate) bool {
	key := rd.keys[c.key0:c.key1]
	switch {
	case c.st.BaseURL != "":
		rd.url = c.st.AppendURL(rd.url[:0], key)
		ctx.Response.Header.SetBytesKV(headerLocation, rd.url)
		return true
	case c.st.Kind != storeKindS3:
		s.metrics.skippedNoURL.Inc()
		s.storeLog.log(s.log, "store has no base URL to send clients to", c.st.Name, nil)
		return false
	case s.cfg.Presign == nil:
		s.metrics.skippedPresign.Inc()
		s.storeLog.log(s.log, "private store skipped: this edge cannot presign URLs", c.st.Name, nil)
		return false
	}
	url, err := s.cfg.Presign(c.st, key)
	if err != nil {
		s.metrics.skippedPresign.Inc()
		s.storeLog.log(s.log, "private store skipped: presigning failed", c.st.Name, err)
		return false
	}
	ctx.Response.Header.Set(fasthttp.HeaderLocation, url)
	return true
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
	r, body := s.readiness()
	code := fasthttp.StatusServiceUnavailable
	if r.Ready {
		code = fasthttp.StatusOK
	}
	s.plain(ctx, code, body)
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
