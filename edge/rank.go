package edge

import (
	"math"
	"net/netip"
	"sync"

	"github.com/narthex-cache/narthex/replica"
)

// earthRadiusKm is the Earth's mean radius.
const earthRadiusKm = 6371.0088

// distanceKm is the great-circle distance between a and b (haversine).
func distanceKm(a, b replica.Position) float64 {
	sinLat := math.Sin((b.Lat - a.Lat) / 2)
	sinLon := math.Sin((b.Lon - a.Lon) / 2)
	h := sinLat*sinLat + a.CosLat*b.CosLat*sinLon*sinLon
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(min(h, 1)))
}

// candidate is a good, readable copy of the file a client asked for.
type candidate struct {
	st *replica.Store
	// key is where the file is in st: keys[key0:key1] of the redirect.
	key0, key1 int
	// dist is the distance in km from the client to st: +Inf when either
	// place is unknown.
	dist float64
}

// redirect is what one NAR redirect needs, kept for the next one so that
// a redirect allocates nothing.
type redirect struct {
	cands []candidate
	keys  []byte
	url   []byte
	geo   geoRecord
	// copies counts every copy of the file, good or not.
	copies int
	// cut is the distance up to which a store counts as nearest.
	cut float64
}

var redirects = sync.Pool{New: func() any {
	return &redirect{cands: make([]candidate, 0, 8), keys: make([]byte, 0, 512), url: make([]byte, 0, 512)}
}}

func (rd *redirect) reset() {
	rd.cands, rd.keys, rd.copies, rd.cut = rd.cands[:0], rd.keys[:0], 0, math.Inf(1)
}

// add takes one copy of the file; only good copies in readable stores
// are candidates.
func (rd *redirect) add(st *replica.Store, key []byte, state replica.LocationState) bool {
	rd.copies++
	if state != replica.LocationGood || !st.Readable() {
		return true
	}
	k0 := len(rd.keys)
	rd.keys = append(rd.keys, key...)
	rd.cands = append(rd.cands, candidate{st: st, key0: k0, key1: len(rd.keys), dist: math.Inf(1)})
	return true
}

// Rankings of the candidates of a redirect, for the metrics.
const (
	rankedAlone      = iota // one candidate
	rankedByDistance        // the client and some store placed
	rankedByPriority        // the client or every store unplaced
)

// rank measures the distance from the client to each candidate store
// whose position is known, and sets the band of nearest stores: those no
// more than Config.NearBandKm further than the nearest.
func (s *Server) rank(addr netip.Addr, rd *redirect) int {
	if len(rd.cands) < 2 {
		return rankedAlone
	}
	client, ok := s.geo.locate(addr, &rd.geo)
	if !ok {
		return rankedByPriority
	}
	nearest := math.Inf(1)
	for i := range rd.cands {
		if p, ok := rd.cands[i].st.Position(); ok {
			d := distanceKm(client, p)
			rd.cands[i].dist = d
			nearest = min(nearest, d)
		}
	}
	rd.cut = nearest + s.cfg.NearBandKm
	if math.IsInf(nearest, 1) {
		return rankedByPriority
	}
	return rankedByDistance
}

// best is the index of the candidate to send the client to: among the
// stores in the band of the nearest, the highest download priority (the
// nearer on a tie); then stores further away, nearest first; then stores
// whose position is unknown, by priority. Without a distance, every store
// is in the band, and priority alone decides. Ties keep store id order.
func (rd *redirect) best() int {
	b := 0
	for i := 1; i < len(rd.cands); i++ {
		if rd.before(&rd.cands[i], &rd.cands[b]) {
			b = i
		}
	}
	return b
}

// tier is 0 for a store in the band of the nearest, 1 for one further
// away, 2 for one whose distance is unknown.
func (rd *redirect) tier(c *candidate) int {
	switch {
	case c.dist <= rd.cut:
		return 0
	case !math.IsInf(c.dist, 1):
		return 1
	}
	return 2
}

func (rd *redirect) before(a, b *candidate) bool {
	if ta, tb := rd.tier(a), rd.tier(b); ta != tb {
		return ta < tb
	} else if ta == 1 && a.dist != b.dist {
		return a.dist < b.dist
	}
	if a.st.DownloadsBefore(b.st) {
		return true
	}
	if b.st.DownloadsBefore(a.st) {
		return false
	}
	return a.dist < b.dist
}

// drop removes candidate i, a store the client cannot be sent to.
func (rd *redirect) drop(i int) {
	rd.cands = append(rd.cands[:i], rd.cands[i+1:]...)
}
