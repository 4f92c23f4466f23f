package loadtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of every load loop: none runs longer or sends more than these,
// whatever it is asked.
const (
	MaxDuration        = time.Hour
	DefaultMaxRequests = 1_000_000_000
)

// DefaultRequestTimeout bounds one answer, past the end of the run.
const DefaultRequestTimeout = 5 * time.Second

// lateThreshold is how far behind its schedule an open-loop request may be
// sent before it counts as late.
const lateThreshold = time.Millisecond

// LookupConfig describes a narinfo lookup run against one or more servers.
type LookupConfig struct {
	// URLs are the servers, http:// on loopback, each with an optional path
	// prefix; each gets the same run, one after another.
	URLs []string
	// Keys is how many paths populate created (hits are Hash(Seed, i) for
	// i < Keys); as many miss keys are drawn from MissHash.
	Keys int
	Seed int64
	// HitPaths, when set, are the paths the hits ask for instead of the
	// first Keys (Hash(Seed, p) for each p): the live paths of a cache
	// being collected. Keys must be its length.
	HitPaths []int
	// HitRatio is the share of requests for hit keys, 0 to 1.
	HitRatio float64
	// Dist picks key indices; default DistUniform. ZipfExponent is its s
	// for DistZipf, above 1; default DefaultZipfExponent.
	Dist         Dist
	ZipfExponent float64
	// Connections is the number of keep-alive connections, each with one
	// request in flight. Default 64.
	Connections int
	// Duration bounds the run: up to MaxDuration. Required.
	Duration time.Duration
	// Requests bounds the number of requests; 0 means DefaultMaxRequests.
	Requests int64
	// Rate, when above 0, sends Rate requests per second in total on a
	// fixed timeline (open loop); 0 sends each connection's next request
	// when its answer arrives (closed loop).
	Rate float64
	// Timeout bounds how long past the end of the run an answer may take.
	// Default DefaultRequestTimeout.
	Timeout time.Duration
	// ServerPIDs, when given, has one process id per URL (0: none): the
	// server's, whose CPU time over its run (with its descendants', such
	// as nginx's workers) is reported per answer.
	ServerPIDs []int
	// NAR asks for NAR files instead of narinfos: GET /nar/<hash>.nar,
	// which an edge answers with a 302 to a copy of the file for a hit
	// (the files `loadtest locations` recorded) and a 404 for a miss.
	NAR bool
	// WantLocation, with NAR, is how the Location of every redirect must
	// start (the base URL of the store nearest the client): a 302 to
	// anywhere else is a wrong answer. Empty accepts any 302.
	WantLocation string
	// Source is the loopback address the connections come from, such as
	// 127.1.0.1, which a GeoIP database may place; empty lets the system
	// choose (127.0.0.1).
	Source string
	// TLSRoots are the roots trusted for https:// URLs, each connection's
	// handshake done before the run; nil: the system's.
	TLSRoots *x509.CertPool
	// NewConnections sends every request on a connection of its own, with
	// "Connection: close", the handshake inside the run and inside the
	// request's latency. Over https:// each is a full TLS handshake: the
	// client keeps no session, so none is resumed. Connections is then how
	// many requests are in flight at once.
	NewConnections bool
}

// Validate names the first unusable field.
func (c LookupConfig) Validate() error {
	switch {
	case len(c.URLs) == 0:
		return errors.New("lookup: no URL")
	case c.Keys < 1 || c.Keys > MaxKeys:
		return fmt.Errorf("lookup: Keys %d is outside 1-%d", c.Keys, MaxKeys)
	case c.HitPaths != nil && len(c.HitPaths) != c.Keys:
		return fmt.Errorf("lookup: %d HitPaths for %d Keys", len(c.HitPaths), c.Keys)
	case !(c.HitRatio >= 0 && c.HitRatio <= 1):
		return fmt.Errorf("lookup: HitRatio %v is outside 0-1", c.HitRatio)
	case c.Dist != "" && c.Dist != DistUniform && c.Dist != DistZipf:
		return fmt.Errorf("lookup: Dist %q is neither %s nor %s", c.Dist, DistUniform, DistZipf)
	case c.ZipfExponent != 0 && !(c.ZipfExponent > 1):
		return fmt.Errorf("lookup: ZipfExponent %v is not above 1", c.ZipfExponent)
	case c.Connections < 0 || c.Connections > 10_000:
		return fmt.Errorf("lookup: Connections %d is outside 1-10000", c.Connections)
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("lookup: Duration %v is outside (0, %v]", c.Duration, MaxDuration)
	case c.Requests < 0:
		return errors.New("lookup: Requests is negative")
	case !(c.Rate >= 0) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("lookup: Rate %v is not a rate", c.Rate)
	case c.Timeout < 0:
		return errors.New("lookup: Timeout is negative")
	case len(c.ServerPIDs) != 0 && len(c.ServerPIDs) != len(c.URLs):
		return fmt.Errorf("lookup: %d ServerPIDs for %d URLs", len(c.ServerPIDs), len(c.URLs))
	case slices.ContainsFunc(c.ServerPIDs, func(p int) bool { return p < 0 }):
		return errors.New("lookup: a ServerPID is negative")
	case c.WantLocation != "" && !c.NAR:
		return errors.New("lookup: WantLocation is for NAR requests only")
	}
	if c.Source != "" {
		if a, err := netip.ParseAddr(c.Source); err != nil || !a.IsLoopback() {
			return fmt.Errorf("lookup: Source %q is not a loopback address", c.Source)
		}
	}
	for _, u := range c.URLs {
		if _, err := CheckLookupURL(u); err != nil {
			return fmt.Errorf("lookup: %w", err)
		}
	}
	return nil
}

func (c *LookupConfig) setDefaults() {
	if c.Dist == "" {
		c.Dist = DistUniform
	}
	if c.ZipfExponent == 0 {
		c.ZipfExponent = DefaultZipfExponent
	}
	if c.Connections == 0 {
		c.Connections = 64
	}
	if c.Requests == 0 {
		c.Requests = DefaultMaxRequests
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultRequestTimeout
	}
}

// LookupResult is the outcome of a run against one URL.
type LookupResult struct {
	URL         string  `json:"url"`
	Mode        string  `json:"mode"` // "closed loop" or "open loop"
	Rate        float64 `json:"rate,omitempty"`
	Connections int     `json:"connections"`
	Keys        int     `json:"keys"`
	HitRatio    float64 `json:"hit_ratio"`
	Dist        Dist    `json:"dist"`
	// NAR tells that the requests were for NAR files (see LookupConfig),
	// from Source when it is set.
	NAR          bool   `json:"nar,omitempty"`
	WantLocation string `json:"want_location,omitempty"`
	Source       string `json:"source,omitempty"`
	// NewConnections tells that every request had a connection of its
	// own (see LookupConfig).
	NewConnections bool          `json:"new_connections,omitempty"`
	Elapsed        time.Duration `json:"elapsed_ns"`
	// Requests were sent; Answered got an HTTP answer; Throughput is
	// Answered per second of Elapsed.
	Requests   int64   `json:"requests"`
	Answered   int64   `json:"answered"`
	Throughput float64 `json:"throughput"`
	// Latency of answered requests: from sending to the answer in a
	// closed loop, from the intended send time in an open loop (see
	// openLoop).
	Latency  Latency          `json:"latency"`
	Hits     KeyOutcome       `json:"hits"`   // requests for hit keys
	Misses   KeyOutcome       `json:"misses"` // requests for miss keys
	Statuses map[string]int64 `json:"statuses"`
	// Errors are wrong answers (a hit key not answered 200, a miss key not
	// answered 404) plus TransportErrors (no HTTP answer).
	Errors          int64  `json:"errors"`
	TransportErrors int64  `json:"transport_errors"`
	FirstError      string `json:"first_error,omitempty"`
	// Late counts open-loop requests sent more than a millisecond after
	// their intended time: their connection was busy, or the generator
	// fell behind. Many late sends with low latencies mean the generator
	// needs more connections or CPU.
	Late int64 `json:"late"`
	// ServerCPU is the user and system CPU time the server process (and
	// its descendants) used during the run, when its pid was given;
	// CPUPerRequest is that per answered request: the server's cost of an
	// answer, which the load generator's own cost does not enter.
	ServerCPU     time.Duration `json:"server_cpu_ns,omitempty"`
	CPUPerRequest time.Duration `json:"server_cpu_per_request_ns,omitempty"`
	// Connects counts the connections made during the run (over https://
	// each with a handshake): reconnections of kept-alive connections, or
	// one per request with NewConnections. ConnectRate is that per second
	// of Elapsed; CPUPerConnect is ServerCPU per connection made, the
	// handshake's cost with its one answer's under NewConnections.
	Connects      int64         `json:"connects"`
	ConnectRate   float64       `json:"connect_rate"`
	CPUPerConnect time.Duration `json:"server_cpu_per_connect_ns,omitempty"`
}

// KeyOutcome counts the requests for one kind of key.
type KeyOutcome struct {
	Sent  int64 `json:"sent"`
	Right int64 `json:"right"` // answered as expected: 200 for hits (302 to WantLocation for NAR files), 404 for misses
	Wrong int64 `json:"wrong"` // answered otherwise
}

// Lookup runs cfg against each URL in turn and returns one result per URL.
// The keys are computed once; each URL gets the same sequence of keys per
// connection.
func Lookup(ctx context.Context, cfg LookupConfig) ([]*LookupResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	keys, err := newPathKeySet(cfg.Seed, cfg.Keys, cfg.HitPaths)
	if err != nil {
		return nil, err
	}
	var results []*LookupResult
	for i, raw := range cfg.URLs {
		u, _ := CheckLookupURL(raw)
		pid := 0
		if len(cfg.ServerPIDs) > 0 {
			pid = cfg.ServerPIDs[i]
		}
		res, err := lookupOne(ctx, cfg, keys, u, pid)
		if err != nil {
			return results, fmt.Errorf("%s: %w", raw, err)
		}
		res.URL = raw
		results = append(results, res)
		if err := ctx.Err(); err != nil {
			return results, err
		}
	}
	return results, nil
}

// lookupWorker is one connection's share of a run.
type lookupWorker struct {
	conn      *httpConn
	req       *getRequest
	pick      *picker
	hist      histogram
	statuses  [600]int64
	hits      KeyOutcome
	misses    KeyOutcome
	transport int64
	firstErr  error
	late      int64
	finished  time.Time
	// dialsBefore is how many connections conn made before the run.
	dialsBefore int64
	// hitStatus is the answer a hit key wants; wantLoc, when set, is how
	// its Location must start.
	hitStatus int
	wantLoc   []byte
}

func lookupOne(ctx context.Context, cfg LookupConfig, keys *keySet, u *url.URL, pid int) (*LookupResult, error) {
	addr := hostPort(u)
	prefix := strings.TrimSuffix(u.EscapedPath(), "/")
	// Connect first, so that a server that is not there fails the run at
	// once and connecting does not count in the first latencies.
	deadline := time.Now().Add(dialTimeout + cfg.Duration + cfg.Timeout)
	workers := make([]*lookupWorker, cfg.Connections)
	suffix, hitStatus := ".narinfo", 200
	headers := ""
	if cfg.NewConnections {
		headers = "Connection: close\r\n"
	}
	if cfg.NAR {
		prefix, suffix, hitStatus = prefix+"/nar", ".nar", 302
	}
	var source net.Addr
	if cfg.Source != "" {
		source = &net.TCPAddr{IP: net.ParseIP(cfg.Source)}
	}
	for i := range workers {
		w := &lookupWorker{
			conn:      newHTTPConn(addr, deadline),
			req:       newGetRequestHeaders(u.Host, prefix, suffix, headers),
			pick:      newPicker(keys, cfg.Dist, cfg.ZipfExponent, cfg.HitRatio, cfg.Seed, i),
			hist:      newHistogram(),
			hitStatus: hitStatus,
		}
		w.conn.source, w.conn.once = source, cfg.NewConnections
		if u.Scheme == "https" {
			// No ClientSessionCache: no session is kept, so every
			// handshake is a full one.
			w.conn.tls = &tls.Config{RootCAs: cfg.TLSRoots, ServerName: u.Hostname()}
		}
		if cfg.WantLocation != "" {
			w.wantLoc = []byte(cfg.WantLocation)
		}
		if err := w.conn.dial(); err != nil {
			for _, w := range workers[:i] {
				w.conn.close()
			}
			return nil, err
		}
		if cfg.NewConnections {
			// The connection only showed that the server is there: the
			// run's requests make their own.
			w.conn.close()
		}
		w.dialsBefore = w.conn.dials
		workers[i] = w
	}

	var stop atomic.Bool
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-runCtx.Done()
		stop.Store(true)
	}()
	var issued atomic.Int64
	cpu, err := startCPUMeter(pid)
	if err != nil {
		for _, w := range workers {
			w.conn.close()
		}
		return nil, err
	}
	start := time.Now()
	end := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() {
			defer w.conn.close()
			if cfg.Rate > 0 {
				w.openLoop(i, len(workers), cfg.Rate, cfg.Requests, start, end, &stop)
			} else {
				w.closedLoop(&issued, cfg.Requests, end, &stop)
			}
			w.finished = time.Now()
		})
	}
	wg.Wait()
	serverCPU, err := cpu.stop()
	if err != nil {
		return nil, err
	}

	res := &LookupResult{
		Mode: "closed loop", Rate: cfg.Rate, Connections: cfg.Connections, Keys: cfg.Keys,
		HitRatio: cfg.HitRatio, Dist: cfg.Dist, Statuses: map[string]int64{},
		NAR: cfg.NAR, WantLocation: cfg.WantLocation, Source: cfg.Source, NewConnections: cfg.NewConnections,
	}
	if cfg.Rate > 0 {
		res.Mode = "open loop"
	}
	hist := newHistogram()
	var statuses [600]int64
	var last time.Time
	for _, w := range workers {
		hist.merge(w.hist)
		for s, n := range w.statuses {
			statuses[s] += n
		}
		res.Hits.add(w.hits)
		res.Misses.add(w.misses)
		res.TransportErrors += w.transport
		res.Late += w.late
		res.Connects += w.conn.dials - w.dialsBefore
		if w.firstErr != nil && res.FirstError == "" {
			res.FirstError = w.firstErr.Error()
		}
		if w.finished.After(last) {
			last = w.finished
		}
	}
	for s, n := range statuses {
		if n > 0 {
			res.Statuses[strconv.Itoa(s)] = n
		}
	}
	res.Elapsed = last.Sub(start)
	res.Requests = res.Hits.Sent + res.Misses.Sent
	res.Answered = res.Requests - res.TransportErrors
	res.Errors = res.Hits.Wrong + res.Misses.Wrong + res.TransportErrors
	res.Throughput = float64(res.Answered) / res.Elapsed.Seconds()
	res.Latency = hist.summary()
	res.ServerCPU = serverCPU
	if res.Answered > 0 {
		res.CPUPerRequest = serverCPU / time.Duration(res.Answered)
	}
	res.ConnectRate = float64(res.Connects) / res.Elapsed.Seconds()
	if res.Connects > 0 {
		res.CPUPerConnect = serverCPU / time.Duration(res.Connects)
	}
	return res, nil
}

func (o *KeyOutcome) add(p KeyOutcome) {
	o.Sent += p.Sent
	o.Right += p.Right
	o.Wrong += p.Wrong
}

// closedLoop sends a request whenever the previous answer has arrived,
// until the run has sent max requests, end has passed or stop is set.
func (w *lookupWorker) closedLoop(issued *atomic.Int64, max int64, end time.Time, stop *atomic.Bool) {
	for issued.Add(1) <= max && !stop.Load() {
		sent := time.Now()
		if !sent.Before(end) {
			return
		}
		if service, ok := w.one(); ok {
			w.hist.record(service)
		}
	}
}

// openLoop sends requests k = conn, conn+conns, conn+2*conns, … of a
// timeline of rate requests per second from start, each at its intended
// time or, when the connection is still busy, as soon as it is free.
//
// Latency runs from the intended time, so a server that falls behind shows
// in the latencies instead of hiding them (no coordinated omission): a
// request that waits for the previous answer carries that wait. Delays of
// the generator itself (a sleep wakes up to a millisecond late, and the
// generator shares the CPUs with the server) are left out: the connection
// is replayed on its ideal timeline, where request j is sent at
// max(intended_j, ideal answer of j-1) and answered its measured service
// time later.
func (w *lookupWorker) openLoop(conn, conns int, rate float64, max int64, start, end time.Time, stop *atomic.Bool) {
	var idealDone time.Time
	for k := int64(conn); k < max && !stop.Load(); k += int64(conns) {
		intended := start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
		if !intended.Before(end) {
			return
		}
		if wait := time.Until(intended); wait > 0 {
			time.Sleep(wait)
		} else if -wait > lateThreshold {
			w.late++
		}
		service, ok := w.one()
		idealDone = later(intended, idealDone).Add(service)
		if ok {
			w.hist.record(idealDone.Sub(intended))
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// one sends one request, classifies its answer and returns the time from
// sending to the answer; ok is false when there was no answer.
func (w *lookupWorker) one() (service time.Duration, ok bool) {
	key, hit := w.pick.next()
	outcome := &w.misses
	want := 404
	if hit {
		outcome, want = &w.hits, w.hitStatus
	}
	outcome.Sent++
	sent := time.Now()
	status, err := w.conn.do(w.req.with(key))
	service = time.Since(sent)
	if err != nil {
		w.transport++
		if w.firstErr == nil {
			w.firstErr = err
		}
		return service, false
	}
	if status >= 0 && status < len(w.statuses) {
		w.statuses[status]++
	}
	if status == want && (!hit || w.wantLoc == nil || bytes.HasPrefix(w.conn.resp.Header.Peek("Location"), w.wantLoc)) {
		outcome.Right++
	} else {
		outcome.Wrong++
	}
	return service, true
}
