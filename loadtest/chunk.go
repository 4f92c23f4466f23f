package loadtest

import (
	"context"
	"sync"
)

// chunk is a run of consecutive synthetic paths on its way to the database.
type chunk struct {
	first     int
	paths     []SynthPath
	refs      []referenceRow
	bodyBytes int64
	err       error
	done      chan struct{} // closed when the fields above are set
}

// referenceRow is a row of the reference table.
type referenceRow struct{ referrer, reference string }

// generateChunks makes the chunks of paths [0, count) on workers
// goroutines and returns them in order; each is ready when its done is
// closed. At most 2*workers chunks are in memory beyond the one being
// copied. Writing to static, when not nil, happens in the workers. The
// channel closes once every chunk is handed out; after ctx ends, the
// remaining chunks come back with ctx's error.
func generateChunks(ctx context.Context, synth *Synth, count, size, workers int, static *staticDir) <-chan *chunk {
	ordered := make(chan *chunk, 2*workers)
	jobs := make(chan *chunk)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ch := range jobs {
				fillChunk(ctx, synth, ch, static)
				close(ch.done)
			}
		}()
	}
	go func() {
		defer close(ordered)
		defer wg.Wait()
		defer close(jobs)
		for first := 0; first < count && ctx.Err() == nil; first += size {
			ch := &chunk{first: first, paths: make([]SynthPath, min(size, count-first)), done: make(chan struct{})}
			// ordered first: its buffer is what bounds the chunks in memory.
			ordered <- ch
			jobs <- ch
		}
	}()
	return ordered
}

func fillChunk(ctx context.Context, synth *Synth, ch *chunk, static *staticDir) {
	for k := range ch.paths {
		if k%256 == 0 && ctx.Err() != nil {
			ch.err = ctx.Err()
			return
		}
		p := synth.Path(ch.first + k)
		ch.paths[k] = p
		ch.bodyBytes += int64(len(p.Body))
		for _, j := range p.Refs {
			ch.refs = append(ch.refs, referenceRow{p.Info.Hash, synth.Hash(j)})
		}
		if static != nil {
			if err := static.write(p.Info.Hash, p.Body); err != nil {
				ch.err = err
				return
			}
		}
	}
}

// drain waits for the chunks still being generated, so that no worker
// outlives the run.
func drain(chunks <-chan *chunk) {
	for ch := range chunks {
		<-ch.done
	}
}
