package maintain

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Job kinds, as store_job's kind column names them.
const (
	KindVerify   = "verify"
	KindPopulate = "populate"
	KindDrain    = "drain"
	KindEvict    = "evict"
	KindSweep    = "sweep"
)

// maxFailuresInARow stops a job whose items all fail: the store or the
// network is down, and trying the rest would only log the same error.
const maxFailuresInARow = 20

// finishTimeout bounds writing a job's end after its pass was stopped.
const finishTimeout = 10 * time.Second

// Progress is where a job stands.
type Progress struct {
	Store  string
	Kind   string // KindVerify, KindPopulate, ...
	Total  int64  // items the job expects to do
	Done   int64  // items done: copied, moved, removed, or verified good
	Bytes  int64  // bytes copied in (populate), hashed (verify), moved out (drain, evict) or removed (sweep)
	Failed int64  // items left undone, or locations a verification found bad; Done + Failed were handled
	// Finished is set on the job's last report.
	Finished bool
}

// JobSummary is what a job did.
type JobSummary struct {
	Progress
	// Error says why the job stopped early or left items undone; empty
	// when it did all it set out to do.
	Error string
}

// job is a job of a pass, recorded in a store_job row.
type job struct {
	m       *Maintainer
	id      int64
	started time.Time // by the database's clock

	mu       sync.Mutex
	p        Progress
	err      string
	inARow   int
	corrupt  int64 // locations a verification found corrupt
	missing  int64 // and missing
	changed  bool
	stopTick chan struct{}
	ticked   sync.WaitGroup
}

// startJob records a job of kind for store with total items to do, and
// writes its progress every JobUpdateInterval until finish.
func (m *Maintainer) startJob(ctx context.Context, st *storeRow, kind string, total int64) (*job, error) {
	j := &job{m: m, p: Progress{Store: st.Name, Kind: kind, Total: total}, stopTick: make(chan struct{})}
	if err := m.db.QueryRow(ctx, qStartJob, st.ID, kind, total).Scan(&j.id, &j.started); err != nil {
		return nil, fmt.Errorf("start %s job of store %s: %w", kind, st.Name, err)
	}
	j.report()
	j.ticked.Add(1)
	go j.tick(ctx)
	return j, nil
}

func (j *job) tick(ctx context.Context) {
	defer j.ticked.Done()
	t := time.NewTicker(j.m.cfg.JobUpdateInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-j.stopTick:
			return
		case <-t.C:
		}
		j.mu.Lock()
		p, msg, changed := j.p, j.err, j.changed
		j.changed = false
		j.mu.Unlock()
		if !changed {
			continue
		}
		if _, err := j.m.db.Exec(ctx, qUpdateJob, j.id, p.Total, p.Done, p.Bytes, p.Failed, msg); err != nil && ctx.Err() == nil {
			j.m.log.Warn("could not record a job's progress", "store", p.Store, "job", p.Kind, "err", err)
		}
	}
}

// report passes the progress to the Progress hook; j.mu is held or j is
// not shared yet.
func (j *job) report() {
	if j.m.cfg.Progress != nil {
		j.m.cfg.Progress(j.p)
	}
}

// did counts an item done with bytes.
func (j *job) did(bytes int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.p.Done++
	j.p.Bytes += bytes
	j.inARow = 0
	j.changed = true
	j.report()
}

// failed counts an item that failed with err, and reports whether the job
// should stop: its last maxFailuresInARow items all failed.
func (j *job) failed(err error) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.p.Failed++
	j.inARow++
	j.err = err.Error()
	j.changed = true
	j.report()
	return j.inARow >= maxFailuresInARow
}

// found counts a location a verification found corrupt or missing
// (state) as failed.
func (j *job) found(bytes int64, state string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.p.Bytes += bytes
	j.p.Failed++
	j.inARow = 0
	if state == "corrupt" {
		j.corrupt++
	} else {
		j.missing++
	}
	j.err = fmt.Sprintf("%d corrupt, %d missing", j.corrupt, j.missing)
	j.changed = true
	j.report()
}

// setTotal corrects the number of items expected.
func (j *job) setTotal(total int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.p.Total = total
	j.changed = true
}

// setError records why the job leaves items undone.
func (j *job) setError(msg string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.err = msg
	j.changed = true
}

// stopping reports whether the job should dispatch no more items.
func (j *job) stopping() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.inARow >= maxFailuresInARow
}

// finish records the job's end, stopped says why when its pass was
// stopped, and returns its summary.
func (j *job) finish(ctx context.Context) JobSummary {
	close(j.stopTick)
	j.ticked.Wait()
	j.mu.Lock()
	defer j.mu.Unlock()
	if ctx.Err() != nil && j.err == "" {
		j.err = "stopped"
	}
	if j.inARow >= maxFailuresInARow {
		j.err = fmt.Sprintf("gave up after %d failures in a row: %s", j.inARow, j.err)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	p := j.p
	if _, err := j.m.db.Exec(wctx, qFinishJob, j.id, p.Total, p.Done, p.Bytes, p.Failed, j.err); err != nil {
		j.m.log.Warn("could not record a job's end; the next pass closes it", "store", p.Store, "job", p.Kind, "err", err)
	}
	j.p.Finished = true
	j.report()
	return JobSummary{Progress: j.p, Error: j.err}
}

// skipped counts an item left undone for a reason that is not a failure
// of the store (no target has room): failed, but it does not stop the job.
func (j *job) skipped(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.p.Failed++
	j.err = err.Error()
	j.changed = true
	j.report()
}

// onceFlag is true the first time it is asked, for logging a reason once.
type onceFlag struct{ done atomic.Bool }

func (o *onceFlag) first() bool { return !o.done.Swap(true) }
