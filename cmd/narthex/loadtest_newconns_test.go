package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/narthex-cache/narthex/loadtest"
)

// "loadtest lookup --new-connections" sends every request on a connection
// of its own and says how many it made; --help tells what the flag does.
func TestLoadtestLookup_NewConnections(t *testing.T) {
	t.Parallel()
	c, err := loadtest.NewCeiling(loadtest.CeilingConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	for _, tc := range []struct {
		flags []string
		want  int64
	}{{[]string{"--new-connections"}, 30}, {nil, 0}} {
		args := append([]string{"loadtest", "lookup", "--url", "http://" + c.Addr(), "--keys", "10", "--hit-ratio", "1",
			"--connections", "3", "--requests", "30", "--duration", "1m", "--json"}, tc.flags...)
		out, errOut, code := narthex(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.flags, code, errOut)
		}
		var got struct{ Results []loadtest.LookupResult }
		if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Results) != 1 {
			t.Fatalf("%v: %v in %s", tc.flags, err, out)
		}
		if r := got.Results[0]; r.Answered != 30 || r.Errors != 0 || r.Connects != tc.want || r.NewConnections != (tc.want > 0) {
			t.Errorf("%v: %d answered, %d errors, %d connections made; want 30, none, %d", tc.flags, r.Answered, r.Errors, r.Connects, tc.want)
		}
	}

	out, _, _ := narthex(t, "loadtest", "lookup", "-h")
	if !strings.Contains(out, "-new-connections") || !strings.Contains(out, "full TLS handshake each, no session resumed") {
		t.Errorf("--help does not tell of --new-connections:\n%s", out)
	}
}
