package geodns

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/narthex-cache/narthex/config"
)

// Defaults for the zero values of Config fields.
const (
	// DefaultName serves the zone's apex: the zone is delegated to the
	// GeoDNS servers and is the cache's host name.
	DefaultName = "@"
	// DefaultTTL lets resolvers follow a failover within a minute; gdnsd
	// halves it in answers while an edge of the answer is down.
	DefaultTTL = time.Minute
	// DefaultHealthPort is plain HTTP's, where edges answer /readyz.
	DefaultHealthPort = 80
	// DefaultHealthInterval is gdnsd's own.
	DefaultHealthInterval = 10 * time.Second
	// DefaultHealthDownAfter failed checks take an edge out of answers:
	// at the default interval, within half a minute of its /readyz
	// failing, yet not for one lost request.
	DefaultHealthDownAfter = 3
	// DefaultHealthUpAfter checks in a row, all passed, put it back, so
	// that an edge that flaps stays out.
	DefaultHealthUpAfter = 5
	// DefaultNearest is gdnsd's auto_dc_limit: a client's answer fails
	// over through its three nearest edges before the last resort.
	DefaultNearest = 3
)

// HealthPath is what the health checks ask each edge for: 200 only while
// its replica is fresh.
const HealthPath = "/readyz"

// Config configures what is rendered. Zero values take the documented
// defaults.
type Config struct {
	// Zone is the DNS zone the server is authoritative for, such as
	// cache.example.org. Required.
	Zone string
	// Name is the record served, relative to Zone ("@" for the zone
	// itself, "cache" for cache.<Zone>). Default DefaultName.
	Name string
	// TTL of the answers. Default DefaultTTL; whole seconds from 10s
	// (halved while an edge is down, it stays at gdnsd's min_ttl of 5s or
	// above) to a day.
	TTL time.Duration
	// Nameservers are the host names of the zone's name servers, for its
	// SOA and NS records. Required.
	Nameservers []string
	// GeoIPDB is the absolute path of the MaxMind City database that
	// places clients, on the DNS server. Required.
	GeoIPDB string
	// HealthPort is the port of each edge's plain-HTTP /readyz, the same
	// for every edge. Default DefaultHealthPort.
	HealthPort int
	// HealthInterval between checks of an edge, whole seconds from 2s to
	// 255s (each check may take half of it). Default
	// DefaultHealthInterval.
	HealthInterval time.Duration
	// HealthDownAfter failed checks take an edge out; HealthUpAfter
	// passed ones in a row put it back. Defaults DefaultHealthDownAfter
	// and DefaultHealthUpAfter.
	HealthDownAfter, HealthUpAfter int
	// Nearest is how many of a client's nearest edges its answer may
	// fail over through before the last resort, from 1 to 254. Default
	// DefaultNearest.
	Nearest int
	// LastResort is the answer when all of a client's Nearest edges are
	// down. Default: every edge's addresses, unchecked, so that a client
	// still reaches whichever edge answers (gdnsd on its own would answer
	// with the nearest edge alone, down as it is).
	LastResort []netip.Addr
	// OptionsFile, when set, is the absolute path of a file of gdnsd
	// options (listen, run_dir and the like, "key => value" lines) that
	// the configuration includes. EDNS Client Subnet is always on.
	OptionsFile string
	// Serial of the zone's SOA. Default the Unix time, which grows with
	// each run.
	Serial uint32
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.HealthPort == 0 {
		c.HealthPort = DefaultHealthPort
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = DefaultHealthInterval
	}
	if c.HealthDownAfter == 0 {
		c.HealthDownAfter = DefaultHealthDownAfter
	}
	if c.HealthUpAfter == 0 {
		c.HealthUpAfter = DefaultHealthUpAfter
	}
	if c.Nearest == 0 {
		c.Nearest = DefaultNearest
	}
	if c.Serial == 0 {
		c.Serial = uint32(time.Now().Unix())
	}
	c.Zone = strings.TrimSuffix(strings.ToLower(c.Zone), ".")
	c.Name = strings.ToLower(c.Name)
	ns := make([]string, len(c.Nameservers))
	for i, n := range c.Nameservers {
		ns[i] = strings.TrimSuffix(strings.ToLower(n), ".")
	}
	c.Nameservers = ns
	return c
}

// hostName matches a DNS host name: dot-separated labels of letters,
// digits and hyphens, none starting or ending with a hyphen.
var hostName = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// Validate reports the first field of c, defaults applied, that cannot
// work, as a *config.Error.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Zone == "" || len(c.Zone) > 253 || !hostName.MatchString(c.Zone) {
		return &config.Error{Field: "Zone", Value: fmt.Sprintf("%q", c.Zone), Problem: "must be a DNS name such as cache.example.org"}
	}
	if c.Name != "@" && !hostName.MatchString(c.Name) {
		return &config.Error{Field: "Name", Value: fmt.Sprintf("%q", c.Name), Problem: `must be "@" (the zone itself) or a name relative to the zone, such as cache`}
	}
	if c.TTL < 10*time.Second || c.TTL > 24*time.Hour || c.TTL%time.Second != 0 {
		return &config.Error{Field: "TTL", Value: c.TTL, Problem: "must be whole seconds from 10s to 24h"}
	}
	if len(c.Nameservers) == 0 {
		return &config.Error{Field: "Nameservers", Value: `""`, Problem: "is required: the host names of the zone's name servers"}
	}
	for _, ns := range c.Nameservers {
		if !hostName.MatchString(ns) || !strings.Contains(ns, ".") {
			return &config.Error{Field: "Nameservers", Value: fmt.Sprintf("%q", ns), Problem: "must be a fully qualified host name such as ns1.example.org"}
		}
	}
	if c.GeoIPDB == "" || !filepath.IsAbs(c.GeoIPDB) || strings.ContainsAny(c.GeoIPDB, "\"\\\n") {
		return &config.Error{Field: "GeoIPDB", Value: fmt.Sprintf("%q", c.GeoIPDB), Problem: "must be the absolute path of a MaxMind City database"}
	}
	if c.HealthPort < 1 || c.HealthPort > 65535 {
		return &config.Error{Field: "HealthPort", Value: c.HealthPort, Problem: "must be a port from 1 to 65535"}
	}
	if c.HealthInterval < 2*time.Second || c.HealthInterval > 255*time.Second || c.HealthInterval%time.Second != 0 {
		return &config.Error{Field: "HealthInterval", Value: c.HealthInterval, Problem: "must be whole seconds from 2s to 255s"}
	}
	if c.HealthDownAfter < 1 || c.HealthDownAfter > 65535 {
		return &config.Error{Field: "HealthDownAfter", Value: c.HealthDownAfter, Problem: "must be from 1 to 65535"}
	}
	if c.HealthUpAfter < 1 || c.HealthUpAfter > 65535 {
		return &config.Error{Field: "HealthUpAfter", Value: c.HealthUpAfter, Problem: "must be from 1 to 65535"}
	}
	if c.Nearest < 1 || c.Nearest > 254 {
		return &config.Error{Field: "Nearest", Value: c.Nearest, Problem: "must be from 1 to 254"}
	}
	for _, a := range c.LastResort {
		if !usable(a) {
			return &config.Error{Field: "LastResort", Value: fmt.Sprintf("%q", a), Problem: "must be IPv4 or IPv6 unicast addresses"}
		}
	}
	if c.OptionsFile != "" && (!filepath.IsAbs(c.OptionsFile) || strings.ContainsAny(c.OptionsFile, "\"\\{}\n")) {
		return &config.Error{Field: "OptionsFile", Value: fmt.Sprintf("%q", c.OptionsFile), Problem: "must be an absolute path without quotes, braces or backslashes"}
	}
	return nil
}

// usable reports whether a is an address DNS may answer with.
func usable(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && a.Zone() == "" && !a.Is4In6()
}
