package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/registry"
)

// The registry flags of narthex edge refuse what cannot work with one
// line naming the flag, before the edge starts.
func TestEdge_RegistryFlagErrors(t *testing.T) {
	t.Parallel()
	url := "postgres://edge@127.0.0.1:1/narthex"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--latitude", "north"}, `--latitude "north" is not a number of degrees`},
		{[]string{"--latitude", "50.1"}, `--longitude "" is required with --latitude 50.1`},
		{[]string{"--longitude", "8.7"}, `--latitude "" is required with --longitude 8.7`},
		{[]string{"--latitude", "91", "--longitude", "8.7"}, `--latitude 91 must be between -90 and 90 degrees`},
		{[]string{"--latitude", "50", "--longitude", "-181"}, `--longitude -181 must be between -180 and 180 degrees`},
		{[]string{"--latitude", "NaN", "--longitude", "1"}, `--latitude NaN must be between -90 and 90`},
		{[]string{"--public-address", "192.0.2.1,cache.example.org"}, `--public-address "cache.example.org" is not an IP address`},
		{[]string{"--public-address", "0.0.0.0"}, `--public-address "0.0.0.0" must be an IPv4 or IPv6 unicast address`},
		{[]string{"--public-url", "cache.example.org"}, `--public-url "cache.example.org" must be an http:// or https:// URL`},
		{[]string{"--region", strings.Repeat("r", 65)}, `--region "rrrr`},
		{[]string{"--heartbeat-interval", "-1s"}, `--heartbeat-interval -1s must be positive`},
	} {
		args := append([]string{"edge", "--name", "fra1", "--database-url", url, "--replica-dir", tempDir(t), "--listen", "127.0.0.1:0"}, tc.args...)
		_, errOut, code := narthex(t, args...)
		if code != 1 || !strings.HasPrefix(errOut, "narthex edge: "+tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and one line saying %q", tc.args, code, errOut, tc.want)
		}
	}
}

// edgesList runs narthex edges list --json on the origin database url.
func edgesList(t *testing.T, url string, flags ...string) []registry.Edge {
	t.Helper()
	out, errOut, code := narthex(t, append([]string{"edges", "list", "--json", "--database-url", url}, flags...)...)
	if code != 0 {
		t.Fatalf("narthex edges list: exit %d: %s", code, errOut)
	}
	var list []registry.Edge
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("narthex edges list --json: %v\n%s", err, out)
	}
	return list
}

// A real edge registers what its flags say and beats; narthex edges list
// shows it ready and streaming, then, once it is stopped, with its slot
// inactive, and away once it has been gone for longer than --away-after.
func TestEdgesList(t *testing.T) {
	t.Parallel()
	url := pgtest.NewOriginDatabase(t)
	if out, errOut, code := narthex(t, "edges", "list", "--database-url", url); code != 0 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "NAME") {
		t.Fatalf("edges list of no edge: exit %d, %q, %s; want the header alone", code, out, errOut)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1))
	p := startNarthex(t, "edge", "--name", "fra1", "--replica-dir", tempDir(t), "--database-url", url, "--listen", listen,
		"--region", "eu-central", "--latitude", "50.11", "--longitude", "8.68", "--public-address", "192.0.2.1, 2001:db8::1",
		"--public-url", "https://cache.example.org", "--heartbeat-interval", "1s")
	var e registry.Edge
	testutil.Eventually(t, "the edge registered, ready and streaming", edgeWait, func() bool {
		list := edgesList(t, url)
		if len(list) != 1 {
			return false
		}
		e = list[0]
		return e.State == registry.StateReady && e.Ready != nil && *e.Ready && len(e.PublicAddresses) == 2
	})
	if e.Name != "fra1" || e.Region != "eu-central" || *e.Latitude != 50.11 || *e.Longitude != 8.68 ||
		e.PublicAddresses[0].String() != "192.0.2.1" || e.PublicAddresses[1].String() != "2001:db8::1" || e.PublicURL != "https://cache.example.org" {
		t.Errorf("registered %+v", e)
	}
	if !e.SlotExists || !e.SlotActive || !strings.HasPrefix(e.Slot, "narthex_fra1_") || e.LagBytes == nil || e.RetainedBytes == nil ||
		e.ReplicaLagSeconds == nil || *e.ReplicaLagSeconds > 60 {
		t.Errorf("replication of a streaming edge: %+v", e)
	}
	out, errOut, code := narthex(t, "edges", "list", "--database-url", url)
	if code != 0 {
		t.Fatalf("edges list: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"fra1", "eu-central", "50.11,8.68", "192.0.2.1,2001:db8::1", "https://cache.example.org", "ready", e.Slot + " (streaming)"} {
		if !strings.Contains(out, want) {
			t.Errorf("edges list does not show %q:\n%s", want, out)
		}
	}

	p.stop(t)
	testutil.Eventually(t, "the stopped edge's slot to be inactive", edgeWait, func() bool {
		list := edgesList(t, url, "--away-after", "1h")
		return len(list) == 1 && list[0].State == registry.StateDisconnected && !list[0].SlotActive
	})
	if list := edgesList(t, url, "--away-after", "1ms"); list[0].State != registry.StateAway {
		t.Errorf("an edge gone for longer than --away-after: state %q, want away", list[0].State)
	}
	if _, errOut, code := narthex(t, "edges", "list", "--database-url", url, "--away-after", "0s"); code != 1 || !strings.Contains(errOut, "--away-after 0s must be positive") {
		t.Errorf("--away-after 0s: exit %d, %q", code, errOut)
	}
}
