package edge

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// rareLogInterval is the least time between two logs of failed reads: a
// replica that cannot be read fails every request, and one line says it.
const rareLogInterval = 10 * time.Second

// rareLog logs an error at most once per rareLogInterval; the metric of
// failed reads counts them all.
type rareLog struct{ last atomic.Int64 }

func (l *rareLog) log(log *slog.Logger, what string, err error) {
	now := time.Now().UnixNano()
	last := l.last.Load()
	if now-last < int64(rareLogInterval) || !l.last.CompareAndSwap(last, now) {
		return
	}
	log.Error("replica read failed", "what", what, "err", err)
}
