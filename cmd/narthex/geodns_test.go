package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/geotest"
	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/registry"
)

// dnsWait bounds each wait for gdnsd to see an edge's /readyz change:
// a few checks four seconds apart, on a machine that may be busy.
const dnsWait = 2 * time.Minute

// startGdnsd runs gdnsd on the configuration directory dir until the test
// ends.
func startGdnsd(t *testing.T, gdnsd, dir string) *testutil.LockedBuffer {
	t.Helper()
	if out, err := exec.CommandContext(t.Context(), gdnsd, "-S", "-c", dir, "checkconf").CombinedOutput(); err != nil {
		t.Fatalf("gdnsd checkconf: %v\n%s", err, out)
	}
	var logs testutil.LockedBuffer
	cmd := exec.Command(gdnsd, "-c", dir, "start")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("gdnsd:\n%s", logs.String())
		}
	})
	return &logs
}

// digA asks the DNS server at addr:port for the A records of name, for a
// client in subnet (EDNS Client Subnet), and returns the addresses
// sorted; nil when no answer came.
func digA(t *testing.T, dig, addr string, port int, subnet, name string) []string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), dig, "@"+addr, "-p", fmt.Sprint(port), "+subnet="+subnet,
		"+short", "+time=2", "+tries=1", name, "A").Output()
	if err != nil {
		return nil
	}
	got := strings.Fields(string(out))
	slices.Sort(got)
	return got
}

// Three real edges on three loopback addresses and one port, each
// registering itself: one in Frankfurt whose replica is never fresh
// enough for its --max-lag (its /readyz answers 503), one in Amsterdam
// and one in Singapore. narthex geodns makes a gdnsd configuration of
// them that a real gdnsd loads. A client in Frankfurt (EDNS Client
// Subnet) is answered with Amsterdam, the nearest edge that is ready, and
// one in Asia with Singapore; when the Amsterdam edge stops, Europe gets
// Singapore; when Singapore stops too, everyone gets the last resort:
// every edge's addresses.
func TestGeoDNS_Gdnsd(t *testing.T) {
	t.Parallel()
	gdnsd := testutil.Tool(t, "gdnsd")
	dig := testutil.Tool(t, "dig")
	url := pgtest.NewOriginDatabase(t)
	const amsAddr, asiaAddr, fraAddr, dnsAddr = "127.0.77.1", "127.0.77.2", "127.0.77.3", "127.0.77.53"
	port := freePorts(t, 2)
	httpPort, dnsPort := port, port+1
	edge := func(name, addr string, lat, lon float64, more ...string) *proc {
		return startNarthex(t, append([]string{"edge", "--name", name, "--replica-dir", tempDir(t), "--database-url", url,
			"--listen", fmt.Sprintf("%s:%d", addr, httpPort), "--heartbeat-interval", "1s",
			"--latitude", fmt.Sprint(lat), "--longitude", fmt.Sprint(lon), "--public-address", addr}, more...)...)
	}
	ams := edge("ams1", amsAddr, geotest.AmsterdamLat, geotest.AmsterdamLon)
	asia := edge("sin1", asiaAddr, geotest.SingaporeLat, geotest.SingaporeLon)
	edge("fra1", fraAddr, geotest.FrankfurtLat, geotest.FrankfurtLon, "--max-lag", "1ns")
	testutil.Eventually(t, "the edges registered: two ready, the one in Frankfurt lagging", edgeWait, func() bool {
		states := map[string]registry.State{}
		for _, e := range edgesList(t, url) {
			if len(e.PublicAddresses) == 1 && e.Latitude != nil {
				states[e.Name] = e.State
			}
		}
		return states["ams1"] == registry.StateReady && states["sin1"] == registry.StateReady && states["fra1"] == registry.StateLagging
	})

	dir := tempDir(t)
	db := filepath.Join(dir, "City.mmdb")
	geotest.WriteFile(t, db, geotest.Europe, geotest.Asia)
	options := filepath.Join(dir, "options")
	if err := os.WriteFile(options, []byte(fmt.Sprintf("listen => %s:%d\nrun_dir => %s/run\nstate_dir => %s/state\n", dnsAddr, dnsPort, dir, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "gdnsd")
	_, errOut, code := narthex(t, "geodns", "--format", "gdnsd", "--out", conf, "--database-url", url, "--geoip-db", db,
		"--zone", "cache.test", "--nameservers", "ns1.example.net,ns2.example.net", "--ttl", "10s",
		"--health-port", fmt.Sprint(httpPort), "--health-interval", "4s", "--health-down-after", "2", "--health-up-after", "2",
		"--gdnsd-options", options)
	if code != 0 || strings.Contains(errOut, "warning") {
		t.Fatalf("narthex geodns: exit %d: %s", code, errOut)
	}
	logs := startGdnsd(t, gdnsd, conf)

	europe, asiaNet := "127.1.0.0/24", "127.2.0.0/24"
	want := func(what, subnet string, addrs ...string) {
		t.Helper()
		var got []string
		testutil.Eventually(t, what, dnsWait, func() bool {
			got = digA(t, dig, dnsAddr, dnsPort, subnet, "cache.test")
			return slices.Equal(got, addrs)
		})
	}
	want("Europe answered with Amsterdam, Frankfurt's edge lagging", europe, amsAddr)
	want("Asia answered with Singapore", asiaNet, asiaAddr)

	ams.stop(t)
	want("Europe answered with Singapore once Amsterdam's /readyz fails", europe, asiaAddr)
	want("Asia still answered with Singapore", asiaNet, asiaAddr)

	asia.stop(t)
	want("Europe answered with the last resort once every edge is down", europe, amsAddr, asiaAddr, fraAddr)
	want("Asia answered with the last resort", asiaNet, amsAddr, asiaAddr, fraAddr)
	if !strings.Contains(logs.String(), "DOWN") {
		t.Errorf("gdnsd logged no edge going down:\n%s", logs.String())
	}
}

// Edges without coordinates or without an address are left out of the
// configuration with a warning naming them; with none left, narthex
// geodns fails and writes nothing.
func TestGeoDNS_LeavesOutEdgesItCannotPlace(t *testing.T) {
	t.Parallel()
	url := pgtest.NewOriginDatabase(t)
	db := pgtest.Connect(t, url)
	insert := func(values string) {
		t.Helper()
		if _, err := db.Exec(t.Context(), `INSERT INTO edge (name, slot_name, latitude, longitude, public_addresses) VALUES `+values); err != nil {
			t.Fatal(err)
		}
	}
	insert(`('nowhere', 'narthex_nowhere_00000000', NULL, NULL, '{192.0.2.7}'), ('mute', 'narthex_mute_00000000', 1, 2, '{}')`)
	dir := tempDir(t)
	city := filepath.Join(dir, "City.mmdb")
	geotest.WriteFile(t, city, geotest.Europe)
	args := []string{"geodns", "--format", "gdnsd", "--database-url", url, "--geoip-db", city, "--zone", "cache.test", "--nameservers", "ns1.example.net"}

	out, errOut, code := narthex(t, append(args, "--out", filepath.Join(dir, "gdnsd"))...)
	if code != 1 || !strings.Contains(errOut, "no edge has both coordinates and an address") {
		t.Errorf("with no edge to answer with: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "gdnsd")); !os.IsNotExist(err) {
		t.Errorf("a failed run wrote %s: %v", filepath.Join(dir, "gdnsd"), err)
	}

	insert(`('fra1', 'narthex_fra1_00000000', 50.1, 8.7, '{192.0.2.1,2001:db8::1}')`)
	out, errOut, code = narthex(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"narthex geodns: warning: edge mute has no address (narthex edge --public-address): left out\n",
		"narthex geodns: warning: edge nowhere has no coordinates (narthex edge --latitude, --longitude): left out\n",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q, want %q", errOut, want)
		}
	}
	if !strings.Contains(out, "fra1 => [ 50.1, 8.7 ]") || !strings.Contains(out, "addrs_v6 => [ 2001:db8::1 ]") || !strings.Contains(out, "@ 60 DYNA metafo!narthex") {
		t.Errorf("standard output lacks the edge's coordinates, addresses or the record:\n%s", out)
	}
	if strings.Contains(out, "nowhere") || strings.Contains(out, "mute") {
		t.Errorf("an edge left out is in the configuration:\n%s", out)
	}

	// --out writes config and zones/<zone>, and a second run replaces
	// them, leaving nothing else behind.
	conf := filepath.Join(dir, "gdnsd")
	for _, ttl := range []string{"60s", "30s"} {
		if _, errOut, code := narthex(t, append(args, "--out", conf, "--ttl", ttl)...); code != 0 {
			t.Fatalf("--out %s: exit %d: %s", conf, code, errOut)
		}
	}
	zone, err := os.ReadFile(filepath.Join(conf, "zones", "cache.test"))
	if err != nil || !strings.Contains(string(zone), "@ 30 DYNA metafo!narthex") {
		t.Errorf("zone after the second run: %v\n%s", err, zone)
	}
	if c, err := os.ReadFile(filepath.Join(conf, "config")); err != nil || !strings.Contains(string(c), "fra1 => [ 50.1, 8.7 ]") {
		t.Errorf("config: %v\n%s", err, c)
	}
	var names []string
	filepath.WalkDir(conf, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(conf, path)
			names = append(names, rel)
		}
		return nil
	})
	if want := []string{"config", filepath.Join("zones", "cache.test")}; !slices.Equal(names, want) {
		t.Errorf("files in --out: %q, want %q", names, want)
	}
}

// Bad flags get one line naming the flag, and nothing is written.
func TestGeoDNS_FlagErrors(t *testing.T) {
	t.Parallel()
	dir := tempDir(t)
	city := filepath.Join(dir, "City.mmdb")
	geotest.WriteFile(t, city, geotest.Europe)
	out := filepath.Join(dir, "gdnsd")
	base := []string{"geodns", "--out", out, "--database-url", "postgres://127.0.0.1:1/x"}
	good := []string{"--format", "gdnsd", "--geoip-db", city, "--zone", "cache.test", "--nameservers", "ns1.example.net"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--geoip-db", city, "--zone", "cache.test", "--nameservers", "ns1.example.net"}, "--format is required: gdnsd"},
		{append(slices.Clone(good), "--format", "bind"), `--format "bind" is not supported`},
		{[]string{"--format", "gdnsd", "--zone", "cache.test", "--nameservers", "ns1.example.net"}, "--geoip-db is required"},
		{append(slices.Clone(good), "--geoip-db", filepath.Join(dir, "missing.mmdb")), "--geoip-db: stat"},
		{append(slices.Clone(good), "--zone", "cache test"), `--zone "cache test" must be a DNS name`},
		{append(slices.Clone(good), "--name", "a..b"), `--name "a..b" must be "@"`},
		{append(slices.Clone(good), "--ttl", "1s"), "--ttl 1s must be whole seconds from 10s"},
		{append(slices.Clone(good), "--nameservers", ""), "--nameservers \"\" is required"},
		{append(slices.Clone(good), "--nameservers", "ns1"), `--nameservers "ns1" must be a fully qualified host name`},
		{append(slices.Clone(good), "--health-port", "70000"), "--health-port 70000 must be a port"},
		{append(slices.Clone(good), "--health-port", "0"), "--health-port 0 must be positive"},
		{append(slices.Clone(good), "--health-interval", "1s"), "--health-interval 1s must be whole seconds from 2s"},
		{append(slices.Clone(good), "--health-down-after", "-1"), "--health-down-after -1 must be from 1"},
		{append(slices.Clone(good), "--nearest", "300"), "--nearest 300 must be from 1 to 254"},
		{append(slices.Clone(good), "--last-resort", "backup.example.org"), `--last-resort "backup.example.org" is not an IP address`},
		{append(slices.Clone(good), "--gdnsd-options", filepath.Join(dir, "nothing")), "--gdnsd-options: stat"},
	} {
		stdout, errOut, code := narthex(t, append(slices.Clone(base), tc.args...)...)
		if code != 1 || !strings.HasPrefix(errOut, "narthex geodns: "+tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and one line saying %q", tc.args, code, stdout, errOut, tc.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("bad flags wrote %s: %v", out, err)
	}
}
