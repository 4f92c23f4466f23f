package replica

import (
	"math"
	"testing"
)

// A store's position is worked out from its published coordinates once,
// as its row is decoded; a store without both, or off the globe, has none.
func TestStore_Position(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		lat, lon string
		ok       bool
	}{
		{"both", "50.1109", "8.6821", true},
		{"south west", "-33.8688", "-151.2093", true},
		{"no longitude", "50.1", "", false},
		{"no coordinates", "", "", false},
		{"off the globe", "91", "8", false},
		{"longitude beyond", "10", "180.5", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col := map[string][]byte{"id": []byte("1"), "name": []byte("s")}
			if tc.lat != "" {
				col["latitude"] = []byte(tc.lat)
			}
			if tc.lon != "" {
				col["longitude"] = []byte(tc.lon)
			}
			v, err := storeFromColumns(col)
			if err != nil {
				t.Fatal(err)
			}
			s, err := decodeStore(v)
			if err != nil {
				t.Fatal(err)
			}
			p, ok := s.Position()
			if ok != tc.ok {
				t.Fatalf("Position ok = %v, want %v", ok, tc.ok)
			}
			if ok && (math.Abs(p.Lat*180/math.Pi-*s.Latitude) > 1e-9 || math.Abs(p.Lon*180/math.Pi-*s.Longitude) > 1e-9 ||
				math.Abs(p.CosLat-math.Cos(p.Lat)) > 1e-12) {
				t.Fatalf("Position = %+v for %v, %v", p, *s.Latitude, *s.Longitude)
			}
		})
	}
}
