package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/narthex-cache/narthex/narinfo"
)

// entry is a path to import.
type entry struct {
	hash string
	// storePath names the path in the summary: the narinfo's StorePath,
	// or for a narinfo that could not be read, what a referrer or the
	// command line called it.
	storePath string
	text      []byte           // the narinfo, byte for byte as the source has it
	ni        *narinfo.NarInfo // nil when refused at planning
	refs      []string         // hashes of the paths it references, itself excluded
	refNames  []string         // the store paths of refs
	refused   string           // why it cannot be imported, found while planning
	waiting   int              // references not yet imported
	needed    []*entry         // paths that reference it
	done      bool             // imported or refused
}

// plan is what an import has to do.
type plan struct {
	entries map[string]*entry // the paths to import, by hash
	present map[string]bool   // hashes reached that the origin already has
}

// parseRoot returns the hash of a path given to import: a store path, its
// base name or its hash.
func parseRoot(storeDir, arg string) (string, error) {
	if narinfo.ValidHash(arg) {
		return arg, nil
	}
	base := arg
	if strings.HasPrefix(arg, "/") {
		var ok bool
		if base, ok = strings.CutPrefix(arg, storeDir+"/"); !ok {
			return "", fmt.Errorf("path %s is not in the source's store directory %s", arg, storeDir)
		}
	}
	// A store path may be given with a file below it.
	base, _, _ = strings.Cut(base, "/")
	h, _, err := narinfo.ParseBaseName(base)
	if err != nil {
		return "", fmt.Errorf("path %s: %w (want a store path, its base name or its hash)", arg, err)
	}
	return h, nil
}

// visit is what planning learns of one hash.
type visit struct {
	present bool
	e       *entry
}

// makePlan walks the closures of roots in the source, breadth first, a
// level at a time with up to Jobs requests in flight. A path the origin
// has ends the walk there: the origin holds a path only with its whole
// closure. names gives what to call a root in the summary when its
// narinfo cannot be read.
func (im *importer) makePlan(ctx context.Context, roots []string, names map[string]string) (*plan, error) {
	p := &plan{entries: map[string]*entry{}, present: map[string]bool{}}
	var checked atomic.Int64
	stop := im.planProgress(&checked)
	defer stop()
	seen := map[string]bool{}
	var frontier []string
	for _, h := range roots {
		if !seen[h] {
			seen[h] = true
			frontier = append(frontier, h)
		}
	}
	for len(frontier) > 0 {
		visits := make([]visit, len(frontier))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(im.cfg.Jobs)
		for i, h := range frontier {
			g.Go(func() error {
				v, err := im.visit(gctx, h, names[h])
				visits[i] = v
				checked.Add(1)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		var next []string
		for i, v := range visits {
			if v.present {
				p.present[frontier[i]] = true
				continue
			}
			p.entries[v.e.hash] = v.e
			if v.e.ni == nil {
				continue
			}
			for j, r := range v.e.refs {
				if !seen[r] {
					seen[r] = true
					next = append(next, r)
				}
				if _, ok := names[r]; !ok {
					names[r] = v.e.refNames[j]
				}
			}
		}
		frontier = next
	}
	return p, nil
}

// planProgress reports the paths checked so far every ProgressInterval
// until the returned function is called, which waits for the last report.
func (im *importer) planProgress(checked *atomic.Int64) (stop func()) {
	if im.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(im.cfg.ProgressInterval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				im.progress(Progress{Planning: true, Checked: int(checked.Load())})
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// visit asks the origin whether it has hash and, when it has not, reads
// and parses the source's narinfo of it. A narinfo missing or malformed
// makes an entry refused with the reason; a source or origin that cannot
// be asked is an error.
func (im *importer) visit(ctx context.Context, hash, name string) (visit, error) {
	has, err := im.origin.has(ctx, hash)
	if err != nil {
		return visit{}, err
	}
	if has {
		return visit{present: true}, nil
	}
	if name == "" {
		name = hash
	}
	e := &entry{hash: hash, storePath: name}
	text, err := readSmall(ctx, im.src, hash+".narinfo")
	switch {
	case errors.Is(err, errNotInSource):
		e.refused = "its narinfo is not in the source"
		return visit{e: e}, nil
	case err != nil:
		return visit{}, fmt.Errorf("source: %w", err)
	}
	ni, err := narinfo.Parse(text, im.storeDir)
	if err != nil {
		e.refused = fmt.Sprintf("%s.narinfo: %v", hash, err)
		return visit{e: e}, nil
	}
	if ni.Hash != hash {
		e.refused = fmt.Sprintf("%s.narinfo is the narinfo of %s", hash, ni.StorePath)
		return visit{e: e}, nil
	}
	e.storePath, e.text, e.ni = ni.StorePath, text, ni
	for _, ref := range ni.References {
		h, _, _ := narinfo.ParseBaseName(ref) // Parse checked them
		if h != hash {
			e.refs = append(e.refs, h)
			e.refNames = append(e.refNames, im.storeDir+"/"+ref)
		}
	}
	return visit{e: e}, nil
}
