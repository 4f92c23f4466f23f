package loadtest

import (
	"fmt"
	"os"

	"github.com/narthex-cache/narthex/internal/geotest"
)

// GeoIP places of the redirect benchmark: a load generator connecting
// from 127.1.0.0/16 is a client in Frankfurt, from 127.2.0.0/16 one in
// Singapore.
var (
	GeoEurope = geotest.Europe
	GeoAsia   = geotest.Asia
)

// WriteGeoIP writes a City database placing GeoEurope and GeoAsia to
// path, for `narthex edge --geoip-db`: loopback addresses a real database
// never holds, so that a load generator on loopback stands for a client
// far away.
func WriteGeoIP(path string) error {
	b, err := geotest.Build(GeoEurope, GeoAsia)
	if err != nil {
		return fmt.Errorf("geoip: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("geoip: %w", err)
	}
	return nil
}
