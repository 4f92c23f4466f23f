package edge

import (
	"errors"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/config"
)

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		field string
		cfg   Config
	}{
		{"StoreDir", Config{StoreDir: "nix/store"}},
		{"StoreDir", Config{StoreDir: "/nix/store/"}},
		{"StoreDir", Config{StoreDir: "/"}},
		{"StoreDir", Config{StoreDir: "/nix/my store"}},
		{"Priority", Config{Priority: -1}},
		{"MaxLag", Config{MaxLag: -time.Second}},
		{"HitCacheControl", Config{HitCacheControl: "max-age=1\r\nX: y"}},
		{"MissCacheControl", Config{MissCacheControl: "max-age=1\nX: y"}},
		{"NearBandKm", Config{NearBandKm: -1}},
		{"NearBandKm", Config{NearBandKm: math.NaN()}},
		{"NearBandKm", Config{NearBandKm: math.Inf(1)}},
		{"GeoIPPollInterval", Config{GeoIPPollInterval: -time.Second}},
		{"TrustedProxies", Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), {}}}},
	} {
		var ce *config.Error
		if err := tc.cfg.Validate(); !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tc.cfg, err, tc.field)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("Validate of the zero Config: %v", err)
	}
	d := Config{}.withDefaults()
	if d.StoreDir != DefaultStoreDir || d.Priority != DefaultPriority || d.HitCacheControl != DefaultHitCacheControl ||
		d.MissCacheControl != DefaultMissCacheControl || d.MaxLag != DefaultMaxLag || d.Logger == nil ||
		d.NearBandKm != DefaultNearBandKm || d.GeoIPPollInterval != DefaultGeoIPPollInterval {
		t.Errorf("defaults of the zero Config: %+v", d)
	}
}
