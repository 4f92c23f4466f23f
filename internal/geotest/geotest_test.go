package geotest

import (
	"net/netip"
	"testing"

	"github.com/oschwald/geoip2-golang/v2"
)

// geoip2's City reader finds each place's country and coordinates, and
// nothing outside them.
func TestDatabase_ReadByGeoIP2(t *testing.T) {
	t.Parallel()
	db, err := geoip2.OpenBytes(Database(t, Europe, Asia))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		addr     string
		country  string
		lat, lon float64
	}{
		{"127.1.0.1", "DE", FrankfurtLat, FrankfurtLon},
		{"127.2.200.9", "SG", SingaporeLat, SingaporeLon},
	} {
		c, err := db.City(netip.MustParseAddr(tc.addr))
		if err != nil {
			t.Fatal(err)
		}
		if c.Country.ISOCode != tc.country || !c.Location.HasCoordinates() ||
			*c.Location.Latitude != tc.lat || *c.Location.Longitude != tc.lon {
			t.Errorf("City(%s) = %s at %v,%v; want %s at %v,%v", tc.addr, c.Country.ISOCode,
				c.Location.Latitude, c.Location.Longitude, tc.country, tc.lat, tc.lon)
		}
	}
	if c, err := db.City(netip.MustParseAddr("127.3.0.1")); err != nil || c.HasData() {
		t.Errorf("City(127.3.0.1) = %+v, %v; want no data", c, err)
	}
}
