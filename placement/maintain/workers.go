package maintain

import "sync"

// workers runs functions on a fixed set of goroutines that live as long
// as it does. A goroutine for each item, as errgroup starts them, begins
// each copy on a small stack that the S3 client's deep call chain then
// grows, copying it several times a file; goroutines that stay keep the
// stacks they grew.
type workers struct {
	work chan func()
	wg   sync.WaitGroup
}

// newWorkers starts n workers.
func newWorkers(n int) *workers {
	w := &workers{work: make(chan func())}
	for range n {
		w.wg.Go(func() {
			for f := range w.work {
				f()
			}
		})
	}
	return w
}

// Go runs f on the next free worker, waiting for one.
func (w *workers) Go(f func()) { w.work <- f }

// Wait waits for the functions given to end and stops the workers. Go may
// not be called after.
func (w *workers) Wait() {
	close(w.work)
	w.wg.Wait()
}
