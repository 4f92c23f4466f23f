package edge

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/narthex-cache/narthex/replica"
	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
	"github.com/prometheus/client_golang/prometheus"
)

// geoIP places client addresses with a MaxMind-format City database, read
// from a file that is loaded again whenever it changes. Without a usable
// file it places nobody, and the edge ranks stores by priority alone.
//
// The file is read into memory rather than mapped: an operator's update
// job may rewrite it in place, which would change the bytes under a
// mapped lookup, and a database swapped out is freed by the collector
// once the last lookup holding it returns, with no count of readers on
// the redirect path.
type geoIP struct {
	path string
	poll time.Duration
	log  *slog.Logger
	db   atomic.Pointer[loadedDB]

	loaded   prometheus.Gauge
	failures prometheus.Counter
	// built and loadedAt are the build time of the database in use and
	// when it was loaded, in Unix seconds.
	built, loadedAt prometheus.Gauge

	// seen is the file as last loaded or refused, and seenErr why it was
	// refused: a file is loaded once per change, and a failure logged
	// once per change. Only the loading goroutine uses them.
	seen    os.FileInfo
	seenErr string
}

func newGeoIP(path string, poll time.Duration, log *slog.Logger, reg prometheus.Registerer) *geoIP {
	g := &geoIP{
		path: path,
		poll: poll,
		log:  log,
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "narthex_edge_geoip_loaded",
			Help: "1 while a GeoIP City database places clients; 0 ranks stores by download priority alone.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "narthex_edge_geoip_load_failures_total",
			Help: "GeoIP database files that could not be loaded (missing, unreadable or not a City database), each counted once.",
		}),
		built: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "narthex_edge_geoip_build_timestamp_seconds",
			Help: "When the GeoIP database in use was built, by its metadata (Unix time); 0 while none is loaded.",
		}),
		loadedAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "narthex_edge_geoip_load_timestamp_seconds",
			Help: "When the GeoIP database in use was loaded (Unix time); 0 while none is loaded.",
		}),
	}
	reg.MustRegister(g.loaded, g.failures, g.built, g.loadedAt)
	if path != "" {
		g.reload()
	}
	return g
}

// watch loads the file again each time it changes, until ctx ends.
func (g *geoIP) watch(ctx context.Context) {
	if g.path == "" {
		return
	}
	t := time.NewTicker(g.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.reload()
		}
	}
}

// reload loads the file if it changed since it was last seen. A file that
// cannot be loaded leaves the database in use as it was: a bad update
// does not take away a good database. Each file refused is counted and
// logged once, and a file that cannot be read once until the reason
// changes.
func (g *geoIP) reload() {
	fi, err := os.Stat(g.path)
	if err == nil {
		if g.seen != nil && os.SameFile(fi, g.seen) && fi.Size() == g.seen.Size() && fi.ModTime().Equal(g.seen.ModTime()) {
			return
		}
		g.seen, g.seenErr = fi, ""
		var db *maxminddb.Reader
		if db, err = openCity(g.path); err == nil {
			g.db.Store(&loadedDB{r: db, seed: maphash.MakeSeed()})
			g.loaded.Set(1)
			g.built.Set(float64(db.Metadata.BuildEpoch))
			g.loadedAt.SetToCurrentTime()
			g.log.Info("GeoIP database loaded", "path", g.path, "type", db.Metadata.DatabaseType,
				"built", db.Metadata.BuildTime().UTC().Format(time.DateOnly))
			return
		}
	} else {
		g.seen = nil // the file is loaded when it returns
	}
	if err.Error() == g.seenErr {
		return
	}
	g.seenErr = err.Error()
	g.failures.Inc()
	if g.db.Load() != nil {
		g.log.Error("GeoIP database not reloaded; the one loaded before stays in use", "path", g.path, "err", err)
		return
	}
	g.log.Error("GeoIP database not loaded; NAR downloads are ranked by download priority alone", "path", g.path, "err", err)
}

// openCity reads and checks a City database.
func openCity(path string) (*maxminddb.Reader, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// geoip2 knows which database types hold City records: a City lookup
	// in anything else is refused. The lookups themselves decode the
	// location alone (geoRecord), with the reader geoip2 is built on.
	g, err := geoip2.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("open GeoIP database %s: %w", path, err)
	}
	if _, err := g.City(netip.IPv4Unspecified()); err != nil {
		var wrongType geoip2.InvalidMethodError
		if errors.As(err, &wrongType) {
			return nil, fmt.Errorf("GeoIP database %s is a %s database, not a City database", path, wrongType.DatabaseType)
		}
		return nil, fmt.Errorf("read GeoIP database %s: %w", path, err)
	}
	db, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("open GeoIP database %s: %w", path, err)
	}
	// A whole check once per file, so that a damaged file is refused here
	// rather than misread by lookups.
	if err := db.Verify(); err != nil {
		return nil, fmt.Errorf("check GeoIP database %s: %w", path, err)
	}
	return db, nil
}

// locate returns where the database places addr; ok is false when no
// database is loaded, or it places addr nowhere (as real databases do with
// private and loopback addresses). rec is the caller's, so that a lookup
// allocates nothing.
func (g *geoIP) locate(addr netip.Addr, rec *geoRecord) (p replica.Position, ok bool) {
	db := g.db.Load()
	if db == nil || !addr.IsValid() {
		return p, false
	}
	rec.lat, rec.lon = math.NaN(), math.NaN()
	if err := db.r.Lookup(addr).Decode(rec); err != nil {
		return p, false
	}
	return replica.PositionOf(rec.lat, rec.lon) // NaN: no location
}

// loadedDB is a loaded database, with the countries it placed lately.
type loadedDB struct {
	r    *maxminddb.Reader
	seed maphash.Seed
	// countries caches country lookups, so that counting a request by
	// country reads the database once per client address: an entry is
	// the address's hash above its low 16 bits, its country's two
	// letters there (zero when the database places it nowhere).
	countries [countryCacheSize]atomic.Uint64
}

// countryCacheSize is the number of cached addresses: a few thousand
// clients, at 32 KiB.
const countryCacheSize = 4096

// country returns the ISO 3166 code of the country the database places
// addr in, or zeros. It allocates nothing.
func (g *geoIP) country(addr netip.Addr) [2]byte {
	db := g.db.Load()
	if db == nil || !addr.IsValid() {
		return [2]byte{}
	}
	a := addr.As16()
	tag := (maphash.Bytes(db.seed, a[:]) | 1<<16) &^ 0xffff
	e := &db.countries[(tag>>16)%countryCacheSize]
	if v := e.Load(); v&^0xffff == tag {
		return [2]byte{byte(v >> 8), byte(v)}
	}
	var rec countryRecord
	if err := db.r.Lookup(addr).Decode(&rec); err != nil || !validCountry(rec.code) {
		rec.code = [2]byte{}
	}
	e.Store(tag | uint64(rec.code[0])<<8 | uint64(rec.code[1]))
	return rec.code
}

func validCountry(c [2]byte) bool {
	return 'A' <= c[0] && c[0] <= 'Z' && 'A' <= c[1] && c[1] <= 'Z'
}

// countryRecord is the country of a City record: its ISO code.
type countryRecord struct{ code [2]byte }

var _ mmdbdata.CursorUnmarshaler = (*countryRecord)(nil)

func (r *countryRecord) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	return readMap(c, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		if string(key) != "country" {
			return v.Skip()
		}
		return readMap(v, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
			if string(key) != "iso_code" {
				return v.Skip()
			}
			code, next, err := v.ReadString()
			if err == nil && len(code) == 2 {
				r.code = [2]byte{code[0], code[1]}
			}
			return next, err
		})
	})
}

// readMap reads the map at c, handing each value to read, which returns
// the cursor after it.
func readMap(c mmdbdata.Cursor, read func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error)) (mmdbdata.Cursor, error) {
	m, err := c.MapReader()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	next := m.First()
	for range m.Len() {
		key, v, err := next.ReadMapKey()
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
		if next, err = read(key, v); err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End(next)
}

// geoRecord is the part of a City record the edge reads: the location's
// coordinates, in degrees. It decodes itself, skipping everything else,
// which costs half of what reflection does and allocates nothing.
type geoRecord struct{ lat, lon float64 }

var _ mmdbdata.CursorUnmarshaler = (*geoRecord)(nil)

func (r *geoRecord) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	record, err := c.MapReader()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[geoRecord](err)
	}
	next := record.First()
	for range record.Len() {
		key, v, err := next.ReadMapKey()
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
		if string(key) == "location" {
			next, err = r.location(v)
		} else {
			next, err = v.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return record.End(next)
}

func (r *geoRecord) location(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	loc, err := c.MapReader()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[geoRecord](err)
	}
	next := loc.First()
	for range loc.Len() {
		key, v, err := next.ReadMapKey()
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
		switch string(key) {
		case "latitude":
			r.lat, next, err = v.ReadFloat()
		case "longitude":
			r.lon, next, err = v.ReadFloat()
		default:
			next, err = v.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, fmt.Errorf("decode location %s: %w", key, err)
		}
	}
	return loc.End(next)
}
