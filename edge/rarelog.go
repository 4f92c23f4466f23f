package edge

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// rareLogInterval is the least time between two logs of one kind of
// failure: a replica that cannot be read fails every request, and one
// line says it.
const rareLogInterval = 10 * time.Second

// rareLog logs an error at most once per rareLogInterval; a metric counts
// them all.
type rareLog struct{ last atomic.Int64 }

// allow reports whether a line may be logged now, and if so counts it.
func (l *rareLog) allow() bool {
	now := time.Now().UnixNano()
	last := l.last.Load()
	return now-last >= int64(rareLogInterval) && l.last.CompareAndSwap(last, now)
}

func (l *rareLog) log(log *slog.Logger, what string, err error) {
	if l.allow() {
		log.Error("replica read failed", "what", what, "err", err)
	}
}

// storeLog logs, as rareLog, that a store holding a file could not be
// redirected to.
type storeLog struct{ rareLog }

func (l *storeLog) log(log *slog.Logger, msg, store string, err error) {
	if !l.allow() {
		return
	}
	if err != nil {
		log.Error(msg, "store", store, "err", err)
		return
	}
	log.Error(msg, "store", store)
}
