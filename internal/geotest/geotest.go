// Package geotest writes GeoIP City databases in MaxMind's format for tests
// and benchmarks, with github.com/maxmind/mmdbwriter, so that they resolve
// client addresses with the same reader production uses. Loopback ranges
// stand for places: a client binds its source address in one of them. Only
// tests and the load tool use it: an edge in service reads a real database.
package geotest

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Place is a network whose addresses a City database puts at a point.
type Place struct {
	Network   netip.Prefix
	Country   string // ISO 3166-1 alpha-2 code
	Continent string // continent code, e.g. EU
	Latitude  float64
	Longitude float64
}

// Coordinates of the places tests use, in degrees.
const (
	FrankfurtLat, FrankfurtLon = 50.1109, 8.6821
	SingaporeLat, SingaporeLon = 1.3521, 103.8198
	// Amsterdam is some 360 km from Frankfurt: inside the edge's default
	// band of equally near stores.
	AmsterdamLat, AmsterdamLon = 52.3676, 4.9041
)

var (
	// Europe is 127.1.0.0/16, at Frankfurt.
	Europe = Place{netip.MustParsePrefix("127.1.0.0/16"), "DE", "EU", FrankfurtLat, FrankfurtLon}
	// Asia is 127.2.0.0/16, at Singapore.
	Asia = Place{netip.MustParsePrefix("127.2.0.0/16"), "SG", "AS", SingaporeLat, SingaporeLon}
)

// Database is the bytes of a City database that places each network of
// places.
func Database(t testing.TB, places ...Place) []byte {
	t.Helper()
	b, err := Build(places...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Build is the bytes of a City database that places each network of
// places.
func Build(places ...Place) ([]byte, error) {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: "GeoIP2-City",
		Description:  map[string]string{"en": "narthex test City database"},
		Languages:    []string{"en"},
		// Loopback is reserved: a real database never holds it, which is
		// what makes it safe to stand for places here.
		IncludeReservedNetworks: true,
		RecordSize:              28,
	})
	if err != nil {
		return nil, err
	}
	for _, p := range places {
		rec := mmdbtype.Map{
			"continent": mmdbtype.Map{"code": mmdbtype.String(p.Continent)},
			"country":   mmdbtype.Map{"iso_code": mmdbtype.String(p.Country)},
			"location": mmdbtype.Map{
				"latitude":        mmdbtype.Float64(p.Latitude),
				"longitude":       mmdbtype.Float64(p.Longitude),
				"accuracy_radius": mmdbtype.Uint16(20),
			},
		}
		if err := tree.Insert(ipNet(p.Network), rec); err != nil {
			return nil, fmt.Errorf("insert %s: %w", p.Network, err)
		}
	}
	var b bytes.Buffer
	if _, err := tree.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteFile writes a City database of places to path, replacing what is
// there at once (a rename), as an operator's update job would.
func WriteFile(t testing.TB, path string, places ...Place) {
	t.Helper()
	Replace(t, path, Database(t, places...))
}

// Replace writes b to path through a rename, so that a reader never sees
// half a file.
func Replace(t testing.TB, path string, b []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// ipNet is p as the writer takes it.
func ipNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
