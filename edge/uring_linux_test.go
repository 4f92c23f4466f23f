package edge

import (
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/narthex-cache/narthex/internal/testutil"
)

// The uring engine's tests test io_uring, not the epoll loops it falls
// back to: CI's kernel must allow it.
func TestURing_Available(t *testing.T) {
	if err := uringProbe(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the uring engine's tests need io_uring: %v", err)
		}
		t.Skipf("io_uring unavailable, the uring engine's tests ran on epoll loops: %v", err)
	}
}

// Where the kernel refuses io_uring, the uring engine answers on epoll
// loops, and says so. (Not parallel: it replaces the probe.)
func TestURing_FallsBackToEpoll(t *testing.T) {
	probe := uringProbe
	t.Cleanup(func() { uringProbe = probe })
	uringProbe = func() error { return errNoURing }
	var logs testutil.LockedBuffer
	addr, _ := serve(t, Config{Engine: EngineURing, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, &source{rep: newReplica(t)})
	c := dial(t, addr)
	c.write(request("GET", "/"+hitHash+".narinfo"))
	if resp, body := c.read("GET"); resp.StatusCode != 200 || body != hitBody {
		t.Fatalf("answer = %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "answering with epoll event loops instead of io_uring") {
		t.Errorf("no warning of the fallback in the log:\n%s", logs.String())
	}
}
