// Package maintain makes the placement of NAR payloads match the stores'
// policy: it verifies the bytes of a sample of locations, populates stores
// that should hold every payload, drains stores that should hold none,
// evicts the least recently fetched payloads from stores past their soft
// size limit, and sweeps the leftovers of interrupted writes. Each piece
// of work is a job recorded in the store_job table while it runs; what is
// left to do is always read from payload_location, so a pass that was
// killed resumes where it stopped. One runner works at a time, under a
// PostgreSQL advisory lock.
//
// It must never delete the last good copy of a payload, nor the last one
// clients can download; never record a copy before its bytes hashed
// right; never take a store past its max_size, or a store it copies into
// past its soft_max_size. It never imports origin, edge, replication,
// replica, loadtest or cmd/narthex: the stores it works on are opened by
// the function its Config gives.
//
//	m, err := maintain.New(maintain.Config{DB: pool, Open: openStore})
//	if err != nil {
//		return err
//	}
//	sum, err := m.RunOnce(ctx, "")
//	var held *maintain.LockedError
//	if errors.As(err, &held) {
//		// another runner is at work; held says which process
//	}
package maintain
