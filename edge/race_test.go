//go:build race

package edge

// raceDetector is set when the race detector is on: its sync.Pool drops
// items on purpose, so allocation counts mean nothing then.
const raceDetector = true
