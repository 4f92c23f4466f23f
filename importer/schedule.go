package importer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
)

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
				// Always sent, even once the import is stopping: the
				// path may be in the origin, and the summary says so.
				results <- result{e: e, err: err, files: files, bytes: bytes}
			}
			return nil
		})
	}
	// record counts a path's result, and reports whether it was imported.
	record := func(r result) bool {
		if r.err != nil {
			im.refuse(r.e, r.err.Error(), &prog)
			return false
		}
		r.e.done = true
		im.sum.Imported++
		im.sum.Files += r.files
		im.sum.Bytes += r.bytes
		prog.Done++
		prog.Imported++
		prog.Bytes += r.bytes
		return true
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
			if !record(r) {
				continue
			}
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
	// The paths under way when the import stopped end on their own; each
	// result is counted, so a path the origin took is never left out.
	var err error
	waited := make(chan struct{})
	go func() {
		err = g.Wait()
		close(results)
		close(waited)
	}()
	for r := range results {
		record(r)
	}
	<-waited
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
