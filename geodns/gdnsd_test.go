package geodns

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/config"
	"github.com/narthex-cache/narthex/internal/geotest"
	"github.com/narthex-cache/narthex/internal/testutil"
)

func addrs(s ...string) []netip.Addr {
	a := make([]netip.Addr, len(s))
	for i, x := range s {
		a[i] = netip.MustParseAddr(x)
	}
	return a
}

var testEdges = []Edge{
	{Name: "sin1", Latitude: geotest.SingaporeLat, Longitude: geotest.SingaporeLon, Addresses: addrs("192.0.2.2", "2001:db8::2")},
	{Name: "fra1", Latitude: geotest.FrankfurtLat, Longitude: geotest.FrankfurtLon, Addresses: addrs("192.0.2.1", "192.0.2.11", "2001:db8::1")},
}

// writeFiles writes what Gdnsd rendered as gdnsd's configuration
// directory dir.
func writeFiles(t *testing.T, dir string, f Files) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "zones"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config"), f.Config, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "zones", f.ZoneName), f.Zone, 0o644); err != nil {
		t.Fatal(err)
	}
}

// gdnsd's own check accepts what Gdnsd renders, with edges of both
// address families, an options file and a last resort of its own.
func TestGdnsd_Checkconf(t *testing.T) {
	gdnsd := testutil.Tool(t, "gdnsd")
	dir := t.TempDir()
	db := filepath.Join(dir, "City.mmdb")
	geotest.WriteFile(t, db, geotest.Europe, geotest.Asia)
	opts := filepath.Join(dir, "options")
	if err := os.WriteFile(opts, []byte("listen => 127.0.0.1:5353\nrun_dir => "+dir+"/run\nstate_dir => "+dir+"/state\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"defaults", Config{Zone: "cache.example.org", Nameservers: []string{"ns1.example.net", "ns2.example.net."}, GeoIPDB: db}},
		{"everything", Config{Zone: "Example.ORG.", Name: "cache", TTL: 30 * time.Second, Nameservers: []string{"ns1.example.net", "ns2.example.net"},
			GeoIPDB: db, HealthPort: 8081, HealthInterval: 2 * time.Second, HealthDownAfter: 1, HealthUpAfter: 1, Nearest: 1,
			LastResort: addrs("198.51.100.1", "2001:db8::99"), OptionsFile: opts, Serial: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Gdnsd(tc.cfg, testEdges)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Warnings) > 0 {
				t.Errorf("warnings for edges of both families: %q", f.Warnings)
			}
			conf := filepath.Join(t.TempDir(), "gdnsd")
			writeFiles(t, conf, f)
			out, err := exec.CommandContext(t.Context(), gdnsd, "-S", "-c", conf, "checkconf").CombinedOutput()
			if err != nil {
				t.Fatalf("gdnsd checkconf: %v\n%s\nconfig:\n%s\nzone:\n%s", err, out, f.Config, f.Zone)
			}
		})
	}
}

func TestGdnsd_Refuses(t *testing.T) {
	good := Config{Zone: "cache.example.org", Nameservers: []string{"ns1.example.net"}, GeoIPDB: "/var/lib/GeoIP/City.mmdb"}
	for _, tc := range []struct {
		change func(*Config)
		field  string
	}{
		{func(c *Config) { c.Zone = "" }, "Zone"},
		{func(c *Config) { c.Zone = "cache example.org" }, "Zone"},
		{func(c *Config) { c.Name = "-x" }, "Name"},
		{func(c *Config) { c.TTL = 9 * time.Second }, "TTL"},
		{func(c *Config) { c.TTL = 1500 * time.Millisecond }, "TTL"},
		{func(c *Config) { c.Nameservers = nil }, "Nameservers"},
		{func(c *Config) { c.Nameservers = []string{"ns1"} }, "Nameservers"},
		{func(c *Config) { c.GeoIPDB = "City.mmdb" }, "GeoIPDB"},
		{func(c *Config) { c.HealthPort = 65536 }, "HealthPort"},
		{func(c *Config) { c.HealthInterval = time.Second }, "HealthInterval"},
		{func(c *Config) { c.HealthInterval = 256 * time.Second }, "HealthInterval"},
		{func(c *Config) { c.HealthDownAfter = -1 }, "HealthDownAfter"},
		{func(c *Config) { c.HealthUpAfter = 70000 }, "HealthUpAfter"},
		{func(c *Config) { c.Nearest = 255 }, "Nearest"},
		{func(c *Config) { c.LastResort = addrs("0.0.0.0") }, "LastResort"},
		{func(c *Config) { c.OptionsFile = "options" }, "OptionsFile"},
	} {
		c := good
		tc.change(&c)
		_, err := Gdnsd(c, testEdges)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%+v: %v, want an error of field %s", c, err, tc.field)
		}
	}
	if _, err := Gdnsd(good, nil); !errors.Is(err, ErrNoEdges) {
		t.Errorf("no edges: %v, want ErrNoEdges", err)
	}
	for _, e := range []Edge{
		{Name: "Bad", Addresses: addrs("192.0.2.1")},
		{Name: "far", Latitude: 91, Addresses: addrs("192.0.2.1")},
		{Name: "mute"},
		{Name: "fra1", Addresses: addrs("192.0.2.1")}, // twice
	} {
		if _, err := Gdnsd(good, append([]Edge{testEdges[1]}, e)); err == nil || !strings.Contains(err.Error(), "edge") {
			t.Errorf("edge %+v: %v, want an error naming the edge", e, err)
		}
	}
}

// An edge without an address family the others have is rendered, with
// a warning naming it.
func TestGdnsd_WarnsOfAMissingFamily(t *testing.T) {
	edges := []Edge{testEdges[0], {Name: "v4only", Latitude: 1, Longitude: 2, Addresses: addrs("192.0.2.9")}}
	f, err := Gdnsd(Config{Zone: "cache.example.org", Nameservers: []string{"ns1.example.net"}, GeoIPDB: "/x.mmdb"}, edges)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "edge v4only has no IPv6 address") {
		t.Errorf("warnings %q", f.Warnings)
	}
}
