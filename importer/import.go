package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/narthex-cache/narthex/narinfo"
)

// importer is one run of Run.
type importer struct {
	cfg      Config
	src      source
	origin   *originClient
	storeDir string
	storeID  int32 // the http store of NoPayload
	log      *slog.Logger
	sum      *Summary
}

// Run imports the paths cfg names from its source into its origin and
// says what it did. Before anything is recorded it checks that the source
// is a binary cache of the origin's store directory and that the origin
// takes the token; then it walks the closures to import, and imports
// them, references first, Jobs at a time. A path refused (its bytes do
// not match its narinfo, the origin refuses it) is listed in the summary
// with the paths that depend on it; the others are imported. An error
// (the source or the origin out of reach, the origin failing, ctx ending)
// stops the import: the summary then says what was done, and running it
// again continues.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client := newHTTPClient(cfg)
	defer client.CloseIdleConnections()
	src, err := openSource(cfg.Source, client)
	if err != nil {
		return nil, err
	}
	im := &importer{
		cfg:    cfg,
		src:    src,
		origin: &originClient{base: strings.TrimRight(cfg.Origin, "/"), token: cfg.Token, client: client},
		log:    cfg.Logger.With("component", "import"),
		sum:    &Summary{Source: cfg.Source, Refused: []Refused{}},
	}
	roots, names, err := im.prepare(ctx)
	if err != nil {
		return nil, err
	}
	if err := im.origin.check(ctx, im.storeDir); err != nil {
		return nil, err
	}
	if cfg.NoPayload {
		name := cfg.StoreName
		if name == "" {
			name = defaultStoreName(src.baseURL())
		}
		if !validStoreName.MatchString(name) {
			return nil, fmt.Errorf("no store name can be derived from %s: give one", cfg.Source)
		}
		if im.storeID, err = registerStore(ctx, cfg.DB, name, src.baseURL()); err != nil {
			return nil, err
		}
		im.sum.Store = name
	}
	im.log.Info("planning", "source", cfg.Source, "paths", len(roots), "store_dir", im.storeDir)
	p, err := im.makePlan(ctx, roots, names)
	if err != nil {
		return im.sum, err
	}
	im.sum.AlreadyPresent = len(p.present)
	im.log.Info("importing", "paths", len(p.entries), "already_present", len(p.present), "jobs", cfg.Jobs)
	err = im.importAll(ctx, p)
	im.log.Info("import done", "imported", im.sum.Imported, "already_present", im.sum.AlreadyPresent,
		"refused", len(im.sum.Refused), "nar_files", im.sum.Files, "bytes", im.sum.Bytes, "err", err)
	return im.sum, err
}

// prepare checks that the source is a binary cache, settles the store
// directory, and returns the hashes to import with what to call them.
func (im *importer) prepare(ctx context.Context) ([]string, map[string]string, error) {
	info, err := readSmall(ctx, im.src, "nix-cache-info")
	if isNotInSource(err) {
		return nil, nil, fmt.Errorf("source %s is %w: it has no nix-cache-info", im.cfg.Source, ErrNotCache)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("source %s: %w", im.cfg.Source, err)
	}
	im.storeDir = cacheStoreDir(info)
	switch {
	case im.storeDir == "":
		return nil, nil, fmt.Errorf("source %s is %w: its nix-cache-info has no StoreDir", im.cfg.Source, ErrNotCache)
	case im.cfg.StoreDir != "" && im.cfg.StoreDir != im.storeDir:
		return nil, nil, fmt.Errorf("source %s has store directory %s, not %s", im.cfg.Source, im.storeDir, im.cfg.StoreDir)
	}
	if err := narinfo.CheckStoreDir(im.storeDir); err != nil {
		return nil, nil, fmt.Errorf("source %s: StoreDir %q: %w", im.cfg.Source, im.storeDir, err)
	}
	names := map[string]string{}
	if len(im.cfg.Paths) > 0 {
		roots := make([]string, 0, len(im.cfg.Paths))
		for _, arg := range im.cfg.Paths {
			h, err := parseRoot(im.storeDir, arg)
			if err != nil {
				return nil, nil, err
			}
			roots = append(roots, h)
			switch {
			case strings.HasPrefix(arg, "/"):
				names[h] = arg
			case arg != h:
				names[h] = im.storeDir + "/" + arg
			}
		}
		return roots, names, nil
	}
	roots, err := im.src.list(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("source %s: %w", im.cfg.Source, err)
	}
	if len(roots) == 0 {
		return nil, nil, fmt.Errorf("source %s is %w: it has no narinfos", im.cfg.Source, ErrNotCache)
	}
	slices.Sort(roots)
	return roots, names, nil
}

func isNotInSource(err error) bool { return errors.Is(err, errNotInSource) }

// result is the outcome of importing one path.
type result struct {
	e     *entry
	err   error // nil or a *refusal
	files int
	bytes int64
}

// importAll imports the paths of p, each once every path it references is
// there, Jobs at a time.
func (im *importer) importAll(ctx context.Context, p *plan) error {
	var queue []*entry
	hashes := make([]string, 0, len(p.entries))
	for h := range p.entries {
		hashes = append(hashes, h)
	}
	slices.Sort(hashes)
	for _, h := range hashes {
		e := p.entries[h]
		for _, r := range e.refs {
			if d, ok := p.entries[r]; ok {
				d.needed = append(d.needed, e)
				e.waiting++
			}
		}
	}
	prog := Progress{Total: len(p.entries), AlreadyPresent: len(p.present)}
	for _, h := range hashes {
		if e := p.entries[h]; e.refused != "" {
			im.refuse(e, e.refused, &prog)
		}
	}
	for _, h := range hashes {
		if e := p.entries[h]; !e.done && e.waiting == 0 {
			queue = append(queue, e)
		}
	}

	work := make(chan *entry)
	results := make(chan result)
	g, gctx := errgroup.WithContext(ctx)
	for range im.cfg.Jobs {
		g.Go(func() error {
			for e := range work {
				files, bytes, err := im.importPath(gctx, e)
				var ref *refusal
				if err != nil && !errors.As(err, &ref) {
					return fmt.Errorf("%s: %w", e.storePath, err)
				}
				select {
				case results <- result{e: e, err: err, files: files, bytes: bytes}:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	tick := time.NewTicker(im.cfg.ProgressInterval)
	defer tick.Stop()
	inflight := 0
loop:
	for len(queue) > 0 || inflight > 0 {
		var send chan<- *entry
		var next *entry
		if len(queue) > 0 {
			send, next = work, queue[0]
		}
		select {
		case send <- next:
			queue = queue[1:]
			inflight++
		case r := <-results:
			inflight--
			if r.err != nil {
				im.refuse(r.e, r.err.Error(), &prog)
				continue
			}
			r.e.done = true
			im.sum.Imported++
			im.sum.Files += r.files
			im.sum.Bytes += r.bytes
			prog.Done++
			prog.Imported++
			prog.Bytes += r.bytes
			for _, d := range r.e.needed {
				if d.waiting--; d.waiting == 0 && !d.done {
					queue = append(queue, d)
				}
			}
		case <-tick.C:
			im.progress(prog)
		case <-gctx.Done():
			break loop
		}
	}
	close(work)
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		// What is left waits on itself: the references of a sound
		// cache never loop, so this is a broken source.
		for _, h := range hashes {
			if e := p.entries[h]; !e.done {
				im.refuse(e, "its references loop back to it", &prog)
			}
		}
	}
	im.progress(prog)
	return err
}

// refuse records that e is not imported, and neither is any path that
// needs it.
func (im *importer) refuse(e *entry, reason string, prog *Progress) {
	if e.done {
		return
	}
	e.done = true
	im.sum.Refused = append(im.sum.Refused, Refused{StorePath: e.storePath, Reason: reason})
	prog.Done++
	prog.Refused++
	im.log.Warn("path refused", "store_path", e.storePath, "reason", reason)
	for _, d := range e.needed {
		im.refuse(d, "it references "+e.storePath+", which was refused", prog)
	}
}

func (im *importer) progress(p Progress) {
	if im.cfg.Progress != nil {
		im.cfg.Progress(p)
	}
}

// importPath hashes and uploads (or records) the NAR files of e, and then
// uploads its narinfo. It returns how many files and bytes went.
func (im *importer) importPath(ctx context.Context, e *entry) (files int, bytes int64, err error) {
	nfs, err := narFiles(e)
	if err != nil {
		return 0, 0, err
	}
	if im.cfg.NoPayload {
		hs := make([]*hashed, len(nfs))
		for i, f := range nfs {
			if hs[i], err = im.hashFile(ctx, e, f, false); err != nil {
				return 0, 0, err
			}
			bytes += hs[i].size
		}
		if err := recordFiles(ctx, im.cfg.DB, im.storeID, hs); err != nil {
			return 0, 0, err
		}
	} else {
		for _, f := range nfs {
			h, err := im.hashFile(ctx, e, f, true)
			if err != nil {
				return 0, 0, err
			}
			err = im.origin.putNar(ctx, f.URL, h.body, h.size)
			h.cleanup()
			if err != nil {
				return 0, 0, err
			}
			bytes += h.size
		}
	}
	if err := im.origin.putNarinfo(ctx, e.hash, e.text); err != nil {
		return 0, 0, err
	}
	return len(nfs), bytes, nil
}
