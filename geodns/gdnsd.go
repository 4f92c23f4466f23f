package geodns

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/narthex-cache/narthex/sql"
)

// Edge is an edge as GeoDNS places and answers with it.
type Edge struct {
	// Name is the edge's name, 1-40 characters of [a-z0-9_]: its
	// datacenter in gdnsd's configuration.
	Name                string
	Latitude, Longitude float64
	// Addresses are answered for it: IPv4, IPv6 or both.
	Addresses []netip.Addr
}

// ErrNoEdges is the error of rendering no edge at all.
var ErrNoEdges = errors.New("no edge to answer with")

// Files are what Gdnsd renders: gdnsd's config file, and the zone file
// zones/<ZoneName> beside it.
type Files struct {
	Config   []byte
	ZoneName string
	Zone     []byte
	// Warnings say what of the edges clients may miss: an address family
	// some edges have and others lack.
	Warnings []string
}

// The names the configuration gives what it defines.
const (
	serviceType  = "narthex_readyz"
	geoMap       = "narthex"
	geoResource  = "narthex_edges"
	metaResource = "narthex"
	dcNearest    = "nearest"
	dcLastResort = "last_resort"
)

// Gdnsd renders the gdnsd 3 configuration and zone that answer cfg.Name
// in cfg.Zone with the addresses of the nearest healthy edge of edges.
//
// How the answer is chosen: the geoip plugin, in City auto mode, places
// the client (the EDNS Client Subnet its resolver sends, else the
// resolver's address) with the City database and sorts the edges by
// distance from it, keeping the cfg.Nearest nearest; it answers with the
// first of those whose /readyz check is up. A client the database cannot
// place gets the edges in name order. When all of a client's edges are
// down, geoip alone would answer with the nearest one anyway; here a
// metafo resource wraps it and answers with cfg.LastResort instead, every
// edge's addresses unless set, with no check.
func Gdnsd(cfg Config, edges []Edge) (Files, error) {
	if err := cfg.Validate(); err != nil {
		return Files{}, err
	}
	cfg = cfg.withDefaults()
	if len(edges) == 0 {
		return Files{}, ErrNoEdges
	}
	edges = slices.Clone(edges)
	slices.SortFunc(edges, func(a, b Edge) int { return strings.Compare(a.Name, b.Name) })
	var all []netip.Addr
	var has4, has6 []string
	for i, e := range edges {
		if err := e.validate(); err != nil {
			return Files{}, err
		}
		if i > 0 && edges[i-1].Name == e.Name {
			return Files{}, fmt.Errorf("edge %s: listed twice", e.Name)
		}
		v4, v6 := families(e.Addresses)
		if len(v4) > 0 {
			has4 = append(has4, e.Name)
		}
		if len(v6) > 0 {
			has6 = append(has6, e.Name)
		}
		all = append(all, e.Addresses...)
	}
	var warnings []string
	warnings = append(warnings, missingFamily(edges, has4, "IPv4", "A")...)
	warnings = append(warnings, missingFamily(edges, has6, "IPv6", "AAAA")...)
	lastResort := cfg.LastResort
	if len(lastResort) == 0 {
		lastResort = all
	}
	return Files{
		Config:   gdnsdConfig(cfg, edges, lastResort),
		ZoneName: cfg.Zone,
		Zone:     gdnsdZone(cfg),
		Warnings: warnings,
	}, nil
}

func (e Edge) validate() error {
	switch {
	case !sql.ValidEdgeName.MatchString(e.Name):
		return fmt.Errorf("edge %q: the name must be 1-40 characters of [a-z0-9_]", e.Name)
	case math.IsNaN(e.Latitude) || e.Latitude < -90 || e.Latitude > 90 || math.IsNaN(e.Longitude) || e.Longitude < -180 || e.Longitude > 180:
		return fmt.Errorf("edge %s: coordinates %g,%g out of range", e.Name, e.Latitude, e.Longitude)
	case len(e.Addresses) == 0:
		return fmt.Errorf("edge %s: no address", e.Name)
	}
	for _, a := range e.Addresses {
		if !usable(a) {
			return fmt.Errorf("edge %s: address %q cannot be answered", e.Name, a)
		}
	}
	return nil
}

// missingFamily warns of the edges without an address of a family that
// other edges have: gdnsd sends the clients nearest to such an edge to it
// anyway, and answers their queries of that type with no address.
func missingFamily(edges []Edge, have []string, family, rrtype string) []string {
	if len(have) == 0 || len(have) == len(edges) {
		return nil
	}
	var w []string
	for _, e := range edges {
		if !slices.Contains(have, e.Name) {
			w = append(w, fmt.Sprintf("edge %s has no %s address: %s queries of the clients nearest to it get no answer", e.Name, family, rrtype))
		}
	}
	return w
}

// families splits addrs into IPv4 and IPv6, each without repeats.
func families(addrs []netip.Addr) (v4, v6 []netip.Addr) {
	for _, a := range addrs {
		if a.Is4() {
			if !slices.Contains(v4, a) {
				v4 = append(v4, a)
			}
		} else if !slices.Contains(v6, a) {
			v6 = append(v6, a)
		}
	}
	return v4, v6
}

// addressHash is the multifo configuration of addrs: addrs_v4 and/or
// addrs_v6 arrays, and extra keys first.
func addressHash(addrs []netip.Addr, extra string) string {
	v4, v6 := families(addrs)
	parts := []string{}
	if extra != "" {
		parts = append(parts, extra)
	}
	if len(v4) > 0 {
		parts = append(parts, "addrs_v4 => "+addressArray(v4))
	}
	if len(v6) > 0 {
		parts = append(parts, "addrs_v6 => "+addressArray(v6))
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

func addressArray(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return "[ " + strings.Join(s, ", ") + " ]"
}

func degrees(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// gdnsdConfig is the config file.
func gdnsdConfig(cfg Config, edges []Edge, lastResort []netip.Addr) []byte {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# gdnsd configuration of %s, made by narthex geodns from the edge registry;", fqdn(cfg))
	p("# it is made anew at each run, so edits here do not last.")
	p("options => {")
	p("  # Clients are placed by the EDNS Client Subnet their resolver sends.")
	p("  edns_client_subnet => true")
	if cfg.OptionsFile != "" {
		p("  $include{%s}", cfg.OptionsFile)
	}
	p("}")
	p("")
	p("# An edge is up while its /readyz answers 200: its replica is fresh.")
	p("service_types => {")
	p("  %s => {", serviceType)
	p("    plugin => http_status")
	p("    port => %d", cfg.HealthPort)
	p("    url_path => %s", HealthPath)
	p("    ok_codes => [ 200 ]")
	p("    interval => %d", int(cfg.HealthInterval.Seconds()))
	p("    down_thresh => %d", cfg.HealthDownAfter)
	p("    up_thresh => %d", cfg.HealthUpAfter)
	p("    ok_thresh => %d", cfg.HealthUpAfter)
	p("  }")
	p("}")
	p("")
	p("plugins => {")
	p("  geoip => {")
	p("    maps => {")
	p("      %s => {", geoMap)
	p("        geoip2_db => \"%s\"", cfg.GeoIPDB)
	p("        # Edges in name order: the answer for a client the database cannot place.")
	names := make([]string, len(edges))
	for i, e := range edges {
		names[i] = e.Name
	}
	p("        datacenters => [ %s ]", strings.Join(names, ", "))
	p("        # City auto mode: edges sorted by distance from the client.")
	p("        auto_dc_coords => {")
	for _, e := range edges {
		p("          %s => [ %s, %s ]", e.Name, degrees(e.Latitude), degrees(e.Longitude))
	}
	p("        }")
	p("        auto_dc_limit => %d", cfg.Nearest)
	p("        ignore_ecs => false")
	p("      }")
	p("    }")
	p("    resources => {")
	p("      %s => {", geoResource)
	p("        map => %s", geoMap)
	p("        service_types => %s", serviceType)
	p("        dcmap => {")
	for _, e := range edges {
		p("          %s => %s", e.Name, addressHash(e.Addresses, ""))
	}
	p("        }")
	p("      }")
	p("    }")
	p("  }")
	p("  # When every edge a client may fail over to is down, geoip says so and")
	p("  # answers with the nearest anyway; this answers with the last resort.")
	p("  metafo => {")
	p("    resources => {")
	p("      %s => {", metaResource)
	p("        datacenters => [ %s, %s ]", dcNearest, dcLastResort)
	p("        dcmap => {")
	p("          %s => %%geoip!%s", dcNearest, geoResource)
	p("          %s => %s", dcLastResort, addressHash(lastResort, "service_types => up"))
	p("        }")
	p("      }")
	p("    }")
	p("  }")
	p("}")
	return []byte(b.String())
}

// fqdn is the name served, fully qualified.
func fqdn(cfg Config) string {
	if cfg.Name == "@" {
		return cfg.Zone + "."
	}
	return cfg.Name + "." + cfg.Zone + "."
}

// gdnsdZone is the zone file.
func gdnsdZone(cfg Config) []byte {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	ns := make([]string, len(cfg.Nameservers))
	for i, n := range cfg.Nameservers {
		ns[i] = n + "."
	}
	p("; zone %s., made by narthex geodns; it is made anew at each run.", cfg.Zone)
	p("$TTL 3600")
	// Names that do not exist are cached as long as answers.
	ttl := int(cfg.TTL.Seconds())
	p("@ %d SOA %s hostmaster.%s. ( %d 3600 600 604800 %d )", ttl, ns[0], cfg.Zone, cfg.Serial, ttl)
	for _, n := range ns {
		p("@ NS %s", n)
	}
	p("; The nearest healthy edge (gdnsd's config, metafo resource %s).", metaResource)
	p("%s %d DYNA metafo!%s", cfg.Name, ttl, metaResource)
	return []byte(b.String())
}
