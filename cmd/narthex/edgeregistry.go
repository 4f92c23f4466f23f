package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/narthex-cache/narthex/edge"
	"github.com/narthex-cache/narthex/registry"
)

// registering is what an edge registers about itself, and how often it
// says so again.
type registering struct {
	reg      registry.Registration
	interval time.Duration
}

// registryFlags are the flags of "narthex edge" that say what the edge
// registers.
type registryFlags struct {
	region, latitude, longitude, publicURL, publicAddress *string
	interval                                              *time.Duration
}

func defineRegistryFlags(f *flags) *registryFlags {
	return &registryFlags{
		region:        f.String("region", "", "region of the edge, a label for people such as eu-central, shown by narthex edges list"),
		latitude:      f.String("latitude", "", "latitude of the edge in degrees (-90 to 90), with --longitude: GeoDNS sends clients to the nearest edge"),
		longitude:     f.String("longitude", "", "longitude of the edge in degrees (-180 to 180), with --latitude"),
		publicURL:     f.String("public-url", "", "URL clients use to reach the cache through this edge, such as https://cache.example.org"),
		publicAddress: f.String("public-address", "", "comma-separated IPv4 and/or IPv6 addresses DNS answers with for this edge (narthex geodns)"),
		interval:      f.Duration("heartbeat-interval", registry.DefaultInterval, "how often the edge writes its registration, readiness and last_seen to the origin database"),
	}
}

// registryFlagNames maps the fields of registry's configurations to the
// flags of "narthex edge" that set them.
var registryFlagNames = map[string]string{
	"Name":            "--name",
	"Region":          "--region",
	"Latitude":        "--latitude",
	"Longitude":       "--longitude",
	"PublicURL":       "--public-url",
	"PublicAddresses": "--public-address",
	"Interval":        "--heartbeat-interval",
}

// registering reads the flags into what edge name registers, with a
// one-line error naming the flag that cannot work.
func (r *registryFlags) registering(name string) (registering, error) {
	reg := registry.Registration{Name: name, Region: *r.region, PublicURL: *r.publicURL}
	var err error
	if reg.Latitude, err = parseDegrees("--latitude", *r.latitude); err != nil {
		return registering{}, err
	}
	if reg.Longitude, err = parseDegrees("--longitude", *r.longitude); err != nil {
		return registering{}, err
	}
	if reg.PublicAddresses, err = parseAddresses("--public-address", *r.publicAddress); err != nil {
		return registering{}, err
	}
	g := registering{reg: reg, interval: *r.interval}
	if err := g.validate(); err != nil {
		return registering{}, flagError(err, registryFlagNames)
	}
	return g, nil
}

func (g registering) validate() error {
	return registry.HeartbeatConfig{Registration: g.reg, Interval: g.interval, Health: func() registry.Health { return registry.Health{} }}.Validate()
}

// parseDegrees reads a coordinate flag; nil when it is empty.
func parseDegrees(flag, s string) (*float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("%s %q is not a number of degrees", flag, s)
	}
	return &v, nil
}

// parseAddresses reads comma-separated IP addresses.
func parseAddresses(flag, s string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not an IP address", flag, f)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

// startHeartbeat runs the heartbeat of g for srv, over a connection of its
// own to connString, until ctx ends or the returned function is called,
// which stops it, waits for it and closes the connection.
func startHeartbeat(ctx context.Context, log *slog.Logger, g registering, connString string, srv *edge.Server) (func(), error) {
	// One beat at a time.
	pool, err := smallPool(ctx, connString, 1)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	hb, err := registry.NewHeartbeat(registry.HeartbeatConfig{
		Registration: g.reg,
		Interval:     g.interval,
		Health: func() registry.Health {
			r := srv.Ready()
			return registry.Health{Ready: r.Ready, Lag: r.Lag, LagKnown: r.LagKnown}
		},
		Logger: log.With("component", "registry"),
	}, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		hb.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
		pool.Close()
	}, nil
}
