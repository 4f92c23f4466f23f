package loadtest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/valyala/fasthttp"

	"github.com/narthex-cache/narthex/narinfo"
)

// Bounds and defaults of an ingest run.
const (
	MaxIngestCount     = 10_000_000
	MaxIngestNarSize   = 1 << 30
	DefaultIngestCount = 1000
	DefaultNarSize     = 64 << 10
)

// IngestConfig describes synthetic uploads through the origin's PUT API.
type IngestConfig struct {
	// URL is the origin, http:// on loopback. Required.
	URL string
	// Token is an upload token, sent as "Authorization: Bearer". Required.
	Token string
	// Count bounds the uploads. Default DefaultIngestCount.
	Count int
	// NarSize is the size of each NAR file (random bytes). Default
	// DefaultNarSize.
	NarSize int
	// Concurrency is how many uploads are in flight. Default 4.
	Concurrency int
	// Duration bounds the run, up to MaxDuration. Default MaxDuration.
	Duration time.Duration
	// Timeout bounds each request. Default one minute.
	Timeout time.Duration
	// References, when set, gives the store path base names
	// ("<hash>-<name>") upload k references; they must be in the cache.
	// It is called from every uploader at once.
	References func(k int) []string
	// Rate, when above 0, spreads the uploads on a fixed timeline of Rate
	// uploads per second in total; 0 starts each uploader's next upload
	// when its last is done.
	Rate float64
	// AllowRefused counts a narinfo PUT answered 4xx as refused rather
	// than as an error: what an upload referencing a path that a
	// collection deletes meanwhile gets.
	AllowRefused bool
}

func (c *IngestConfig) setDefaults() {
	if c.Count == 0 {
		c.Count = DefaultIngestCount
	}
	if c.NarSize == 0 {
		c.NarSize = DefaultNarSize
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.Duration == 0 {
		c.Duration = MaxDuration
	}
	if c.Timeout == 0 {
		c.Timeout = time.Minute
	}
}

// Validate names the first unusable field; zero values stand for their
// defaults.
func (c IngestConfig) Validate() error {
	c.setDefaults()
	switch {
	case c.Token == "":
		return errors.New("ingest: no upload token")
	case c.Count < 1 || c.Count > MaxIngestCount:
		return fmt.Errorf("ingest: Count %d is outside 1-%d", c.Count, MaxIngestCount)
	case c.NarSize < 1 || c.NarSize > MaxIngestNarSize:
		return fmt.Errorf("ingest: NarSize %d is outside 1-%d", c.NarSize, MaxIngestNarSize)
	case c.Concurrency < 1 || c.Concurrency > 1000:
		return fmt.Errorf("ingest: Concurrency %d is outside 1-1000", c.Concurrency)
	case c.Duration < 0 || c.Duration > MaxDuration:
		return fmt.Errorf("ingest: Duration %v is outside (0, %v]", c.Duration, MaxDuration)
	case c.Timeout < 0:
		return errors.New("ingest: Timeout is negative")
	case !(c.Rate >= 0) || c.Rate > 1e6:
		return fmt.Errorf("ingest: Rate %v is outside 0-1000000", c.Rate)
	}
	if _, err := CheckURL(c.URL); err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	return nil
}

// IngestResult is the outcome of an ingest run.
type IngestResult struct {
	URL         string        `json:"url"`
	Concurrency int           `json:"concurrency"`
	NarSize     int           `json:"nar_size"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	// Uploads were begun; Succeeded had both PUTs answered 2xx.
	Uploads    int64  `json:"uploads"`
	Succeeded  int64  `json:"succeeded"`
	Errors     int64  `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
	// Refused counts the narinfo PUTs answered 4xx, with AllowRefused.
	Refused      int64   `json:"refused"`
	FirstRefusal string  `json:"first_refusal,omitempty"`
	PerSec       float64 `json:"uploads_per_sec"` // Succeeded over Elapsed
	// Latencies of successful uploads: the whole upload, and each PUT.
	Upload  Latency `json:"upload_latency"`
	Nar     Latency `json:"nar_latency"`
	Narinfo Latency `json:"narinfo_latency"`
	// Hashes are the store path hashes of the successful uploads.
	Hashes []string `json:"-"`
}

// Ingest uploads up to cfg.Count synthetic paths through the origin's PUT
// API, cfg.Concurrency at a time, for at most cfg.Duration: for each, a NAR
// file of random bytes named by its SHA-256, then a narinfo without
// references listing it. The paths are new (hashes from a domain of their
// own and the run's start time) and stay in the cache.
func Ingest(ctx context.Context, cfg IngestConfig) (*IngestResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	u, _ := CheckURL(cfg.URL)
	client := &fasthttp.HostClient{
		Addr:                          hostPort(u),
		MaxConns:                      cfg.Concurrency,
		ReadTimeout:                   cfg.Timeout,
		WriteTimeout:                  cfg.Timeout,
		MaxResponseBodySize:           1 << 20,
		DisableHeaderNamesNormalizing: true,
	}
	defer client.CloseIdleConnections()
	prefix := strings.TrimSuffix(u.EscapedPath(), "/")
	synth := newSideSynth(domainIngest, time.Now().UnixNano())
	auth := "Bearer " + cfg.Token

	var next atomic.Int64
	var stop atomic.Bool
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	go func() {
		<-runCtx.Done()
		stop.Store(true)
	}()
	workers := make([]*ingestWorker, cfg.Concurrency)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range workers {
		w := &ingestWorker{
			client: client, host: u.Host, prefix: prefix, auth: auth, synth: synth,
			refs: cfg.References, allowRefused: cfg.AllowRefused,
			nar:    make([]byte, cfg.NarSize),
			rng:    rand.NewChaCha8(digest(domainIngest, synth.Seed, -int64(i)-1)),
			upload: newHistogram(), narHist: newHistogram(), infoHist: newHistogram(),
		}
		workers[i] = w
		wg.Go(func() {
			for !stop.Load() {
				k := next.Add(1) - 1
				if k >= int64(cfg.Count) {
					return
				}
				if cfg.Rate > 0 {
					due := start.Add(time.Duration(float64(k) / cfg.Rate * float64(time.Second)))
					select {
					case <-time.After(time.Until(due)):
					case <-runCtx.Done():
						return
					}
				}
				w.one(int(k))
			}
		})
	}
	wg.Wait()
	res := &IngestResult{URL: cfg.URL, Concurrency: cfg.Concurrency, NarSize: cfg.NarSize, Elapsed: time.Since(start)}
	upload, nar, info := newHistogram(), newHistogram(), newHistogram()
	for _, w := range workers {
		upload.merge(w.upload)
		nar.merge(w.narHist)
		info.merge(w.infoHist)
		res.Uploads += w.uploads
		res.Errors += w.errors
		res.Refused += w.refused
		res.Hashes = append(res.Hashes, w.hashes...)
		if w.firstErr != nil && res.FirstError == "" {
			res.FirstError = w.firstErr.Error()
		}
		if w.firstRefusal != nil && res.FirstRefusal == "" {
			res.FirstRefusal = w.firstRefusal.Error()
		}
	}
	res.Succeeded = int64(len(res.Hashes))
	res.PerSec = float64(res.Succeeded) / res.Elapsed.Seconds()
	res.Upload, res.Nar, res.Narinfo = upload.summary(), nar.summary(), info.summary()
	return res, ctx.Err()
}

// ingestWorker uploads one path at a time.
type ingestWorker struct {
	client                    *fasthttp.HostClient
	host, prefix, auth        string
	synth                     *Synth
	nar                       []byte
	rng                       *rand.ChaCha8
	upload, narHist, infoHist histogram
	uploads, errors, refused  int64
	firstErr, firstRefusal    error
	hashes                    []string
	refs                      func(k int) []string
	allowRefused              bool
}

// one uploads path k: its NAR file, then its narinfo.
func (w *ingestWorker) one(k int) {
	w.uploads++
	w.rng.Read(w.nar)
	sum := sha256.Sum256(w.nar)
	fileHash := "sha256:" + nixbase32.EncodeToString(sum[:])
	url := "nar/" + fileHash[len("sha256:"):] + ".nar.xz"
	hash, name := w.synth.Hash(k), w.synth.Name(k)
	var refs []string
	if w.refs != nil {
		refs = slices.Clone(w.refs(k))
		// Nix writes references in store path order.
		slices.Sort(refs)
	}
	ni := &narinfo.NarInfo{
		StorePath:  narinfo.NixStoreDir + "/" + hash + "-" + name,
		Files:      []narinfo.File{{URL: url, Compression: "xz", FileHash: fileHash, FileSize: uint64(len(w.nar))}},
		NarHash:    fileHash,
		NarSize:    uint64(len(w.nar)),
		References: refs,
		Deriver:    hashOf(domainDeriver, w.synth.Seed, int64(k)) + "-" + derivationName(name) + ".drv",
	}
	start := time.Now()
	if err := w.put("/"+url, "application/x-nix-nar", w.nar); err != nil {
		w.fail(err)
		return
	}
	narDone := time.Now()
	if err := w.put("/"+hash+".narinfo", "text/x-nix-narinfo", ni.Render()); err != nil {
		var st statusError
		if w.allowRefused && errors.As(err, &st) && st.code >= 400 && st.code < 500 {
			w.refused++
			if w.firstRefusal == nil {
				w.firstRefusal = err
			}
			return
		}
		w.fail(err)
		return
	}
	done := time.Now()
	w.narHist.record(narDone.Sub(start))
	w.infoHist.record(done.Sub(narDone))
	w.upload.record(done.Sub(start))
	w.hashes = append(w.hashes, hash)
}

func (w *ingestWorker) put(path, contentType string, body []byte) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodPut)
	req.SetRequestURI(w.prefix + path)
	req.Header.SetHost(w.host)
	req.Header.Set("Authorization", w.auth)
	req.Header.SetContentType(contentType)
	req.SetBodyRaw(body)
	if err := w.client.Do(req, resp); err != nil {
		return fmt.Errorf("PUT %s: %w", path, err)
	}
	if code := resp.StatusCode(); code < 200 || code > 299 {
		return fmt.Errorf("PUT %s: %w", path, statusError{code, strings.TrimSpace(string(resp.Body()))})
	}
	return nil
}

// statusError is an answer other than 2xx, with its body.
type statusError struct {
	code int
	body string
}

func (e statusError) Error() string { return fmt.Sprintf("%d %s", e.code, e.body) }

func (w *ingestWorker) fail(err error) {
	w.errors++
	if w.firstErr == nil {
		w.firstErr = err
	}
}

// WriteTable writes the result as a table.
func (r *IngestResult) WriteTable(w io.Writer) error {
	head := newTable(fmt.Sprintf("ingest %s  (%d in flight, NAR files of %s)", r.URL, r.Concurrency, fmtBytes(int64(r.NarSize))))
	head.add("elapsed", fmtDuration(r.Elapsed))
	head.add("uploads", fmt.Sprintf("%d begun, %d succeeded, %d refused, %d errors", r.Uploads, r.Succeeded, r.Refused, r.Errors))
	head.add("uploads/s", fmtRate(r.PerSec))
	head.add("NAR bytes/s", fmtBytes(int64(r.PerSec*float64(r.NarSize)))+"/s")
	if r.FirstError != "" {
		head.add("first error", r.FirstError)
	}
	if r.FirstRefusal != "" {
		head.add("first refusal", r.FirstRefusal)
	}
	t := newTable("latency", append([]string{"request"}, latencyHeader...)...)
	t.add(append([]string{"upload (both PUTs)"}, r.Upload.cells()...)...)
	t.add(append([]string{"PUT nar/…"}, r.Nar.cells()...)...)
	t.add(append([]string{"PUT …narinfo"}, r.Narinfo.cells()...)...)
	return writeTables(w, head, t)
}
