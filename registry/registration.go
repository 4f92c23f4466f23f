package registry

import (
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strings"
	"unicode"

	"github.com/narthex-cache/narthex/config"
	"github.com/narthex-cache/narthex/sql"
)

// MaxRegionLen bounds a region's length: a label for people, such as
// "eu-central" or "Frankfurt".
const MaxRegionLen = 64

// Registration is what an edge says about itself.
type Registration struct {
	// Name is the edge's name (sql.ValidEdgeName). Required.
	Name string
	// Region is a label for people; optional, at most MaxRegionLen
	// characters, no control characters.
	Region string
	// Latitude and Longitude place the edge, in degrees: both or
	// neither. GeoDNS sends clients to the nearest edge by them and
	// leaves out an edge without them.
	Latitude, Longitude *float64
	// PublicAddresses are the addresses DNS answers with for this edge,
	// IPv4, IPv6 or both; GeoDNS leaves out an edge without any.
	PublicAddresses []netip.Addr
	// PublicURL is the URL clients use to reach the cache through this
	// edge, such as https://cache.example.org; optional.
	PublicURL string
}

// Validate reports the first field of r that cannot work, as a
// *config.Error.
func (r Registration) Validate() error {
	if !sql.ValidEdgeName.MatchString(r.Name) {
		return &config.Error{Field: "Name", Value: fmt.Sprintf("%q", r.Name), Problem: "must be 1-40 characters of [a-z0-9_]"}
	}
	if len(r.Region) > MaxRegionLen || strings.IndexFunc(r.Region, unicode.IsControl) >= 0 {
		return &config.Error{Field: "Region", Value: fmt.Sprintf("%q", r.Region),
			Problem: fmt.Sprintf("must be at most %d characters and hold no control character", MaxRegionLen)}
	}
	switch {
	case r.Latitude != nil && r.Longitude == nil:
		return &config.Error{Field: "Longitude", Value: `""`, Problem: "is required with", Other: "Latitude", OtherValue: *r.Latitude}
	case r.Latitude == nil && r.Longitude != nil:
		return &config.Error{Field: "Latitude", Value: `""`, Problem: "is required with", Other: "Longitude", OtherValue: *r.Longitude}
	case r.Latitude != nil && !inRange(*r.Latitude, 90):
		return &config.Error{Field: "Latitude", Value: *r.Latitude, Problem: "must be between -90 and 90 degrees"}
	case r.Longitude != nil && !inRange(*r.Longitude, 180):
		return &config.Error{Field: "Longitude", Value: *r.Longitude, Problem: "must be between -180 and 180 degrees"}
	}
	for _, a := range r.PublicAddresses {
		if !a.IsValid() || a.IsUnspecified() || a.Zone() != "" || a.Is4In6() || a.IsMulticast() {
			return &config.Error{Field: "PublicAddresses", Value: fmt.Sprintf("%q", a), Problem: "must be an IPv4 or IPv6 unicast address without a zone"}
		}
	}
	if r.PublicURL != "" {
		u, err := url.Parse(r.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return &config.Error{Field: "PublicURL", Value: fmt.Sprintf("%q", r.PublicURL), Problem: "must be an http:// or https:// URL with a host, such as https://cache.example.org"}
		}
	}
	return nil
}

// inRange reports whether v is a number in [-limit, limit].
func inRange(v, limit float64) bool {
	return !math.IsNaN(v) && v >= -limit && v <= limit
}
