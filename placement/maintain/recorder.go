package maintain

import (
	"context"
	"time"
)

const (
	// recordBatch is the most copies one statement records. Each record
	// runs the statement triggers of payload_location, which plan their
	// queries afresh, and takes the store's usage row: at a few hundred
	// small files a second that cost more of the database than the rows
	// themselves, and one statement for many copies pays it once.
	recordBatch = 100
	// recordDelay is how long a copy waits for others to be recorded with.
	// It only delays what a record shows: no copy is counted done before
	// it is recorded, the pass ends only once every copy is, and a copy
	// that a crash leaves unrecorded is found by the next populate's
	// listing of the store.
	recordDelay = 50 * time.Millisecond
)

// recorder records the copies of one populate job in batches, so that its
// workers go on to the next file instead of waiting for the database. A
// copy counts as done in the job once its batch is recorded, and as failed
// when the batch cannot be.
type recorder struct {
	ctx  context.Context
	p    *pass
	st   *storeRow
	j    *job
	in   chan copied
	done chan struct{}
}

// newRecorder starts recording copies into st for j; close stops it.
func (p *pass) newRecorder(ctx context.Context, st *storeRow, j *job) *recorder {
	r := &recorder{ctx: ctx, p: p, st: st, j: j, in: make(chan copied, recordBatch), done: make(chan struct{})}
	go r.run()
	return r
}

// add queues c to be recorded; it waits while a full batch is queued.
func (r *recorder) add(c copied) { r.in <- c }

// close records the copies queued, at once, and returns when they are
// recorded. Nothing may be added after.
func (r *recorder) close() {
	close(r.in)
	<-r.done
}

func (r *recorder) run() {
	defer close(r.done)
	batch := make([]copied, 0, recordBatch)
	wait := time.NewTimer(recordDelay)
	defer wait.Stop()
	for c := range r.in {
		batch = append(batch[:0], c)
		wait.Reset(recordDelay)
		open := true
		for open && len(batch) < recordBatch {
			select {
			case c, ok := <-r.in:
				if ok {
					batch = append(batch, c)
				}
				open = ok
			case <-wait.C:
				open = false
			}
		}
		r.flush(batch)
	}
}

// flush records batch and counts its copies in the job.
func (r *recorder) flush(batch []copied) {
	if err := r.p.record(r.ctx, r.st, batch); err != nil {
		r.p.m.log.Warn("copies could not be recorded; the next populate finds them in the store",
			"store", r.st.Name, "copies", len(batch), "err", err)
		for range batch {
			r.j.failed(err)
		}
		return
	}
	for _, c := range batch {
		r.j.did(c.n)
	}
}
