// Package testutil holds the small helpers that tests of several packages
// share: polling for a condition, making store path hashes and finding the
// programs a test needs. It must never
// be imported by non-test code.
package testutil

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// pollInterval is how often Eventually checks its condition.
const pollInterval = 10 * time.Millisecond

// Eventually polls cond until it holds, failing the test with what after
// timeout. Timeouts are generous on purpose: a test asserts that something
// happens, not how fast, and CI runs on a busy machine.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(pollInterval)
	}
}

// hashAlphabet is Nix's nixbase32 alphabet.
const hashAlphabet = "0123456789abcdfghijklmnpqrsvwxyz"

// RandomHash returns a random 32-character store path hash.
func RandomHash() string {
	var b [32]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = hashAlphabet[int(b[i])%len(hashAlphabet)]
	}
	return string(b[:])
}

// Tool returns the path of the program name, which a test needs: without
// it the test fails under CI (the CI environment variable is set), where
// test.sh installs it, and skips elsewhere, saying why.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required under CI: %v", name, err)
	}
	t.Skipf("skipping off CI: %v", err)
	return ""
}

// LockedBuffer collects what several goroutines or processes write, such
// as a server's log, for a test to read while they still write.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
