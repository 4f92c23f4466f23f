package maintain

import (
	"context"
	"fmt"
	"time"
)

// sweep removes from st, when its kind keeps temporary files, those last
// written more than TempMaxAge ago: leftovers of writes a crash cut off.
// Only a sweep that removed something, or failed, is recorded as a job.
func (p *pass) sweep(ctx context.Context, st *storeRow) error {
	s, err := p.open(ctx, *st)
	if err != nil {
		return nil // logged when it was opened, and recorded by the jobs that needed it
	}
	tr, ok := s.(tempRemover)
	if !ok {
		return nil
	}
	removed, err := tr.RemoveTemp(ctx, time.Now().Add(-p.m.cfg.TempMaxAge))
	if ctx.Err() != nil {
		return nil
	}
	var bytes int64
	for _, f := range removed {
		bytes += f.Size
		p.m.log.Info("removed an interrupted write's temporary file", "store", st.Name, "path", f.Path,
			"bytes", f.Size, "last_written", f.ModTime.UTC().Format(time.RFC3339))
	}
	msg := ""
	if err != nil {
		msg = err.Error()
		p.m.log.Warn("sweep of a store failed", "store", st.Name, "err", err)
	}
	if len(removed) == 0 && err == nil {
		return nil
	}
	if _, err := p.m.db.Exec(ctx, qRecordSweep, st.ID, int64(len(removed)), bytes, msg); err != nil {
		return fmt.Errorf("record sweep of store %s: %w", st.Name, err)
	}
	n := int64(len(removed))
	s2 := JobSummary{Progress: Progress{Store: st.Name, Kind: KindSweep, Total: n, Done: n, Bytes: bytes, Finished: true}, Error: msg}
	if p.m.cfg.Progress != nil {
		p.m.cfg.Progress(s2.Progress)
	}
	p.add(s2)
	return nil
}
