package replica

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/cockroachdb/pebble/v2"

	"github.com/narthex-cache/narthex/narinfo"
)

// Store is a place that holds NAR files, as the edge sees it.
type Store struct {
	ID        int      `json:"id"`
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`
	BaseURL   string   `json:"base_url"`
	Region    string   `json:"region"`
	Latitude  *float64 `json:"latitude,omitempty"`
	Longitude *float64 `json:"longitude,omitempty"`
	// UploadPriority and DownloadPriority are tried in descending order;
	// nil (unset) counts lowest.
	UploadPriority   *int `json:"upload_priority,omitempty"`
	DownloadPriority *int `json:"download_priority,omitempty"`
	ReadOnly         bool `json:"read_only,omitempty"`
	WriteOnly        bool `json:"write_only,omitempty"`
	// Settings are the kind's settings (stores.S3Settings for s3), as
	// the origin's store table holds them: never a secret.
	Settings json.RawMessage `json:"settings,omitempty"`

	// pos is the store's position, worked out once as the row is decoded
	// so that ranking a redirect by distance costs no conversion.
	pos    Position
	hasPos bool
}

// Position is a point on the Earth in radians, with the cosine of its
// latitude, which every great-circle distance from it needs.
type Position struct {
	Lat, Lon, CosLat float64
}

// PositionOf is the position at latitude lat and longitude lon, in
// degrees. ok is false outside [-90, 90] and [-180, 180].
func PositionOf(lat, lon float64) (p Position, ok bool) {
	if !(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180) { // NaN too
		return Position{}, false
	}
	p.Lat, p.Lon = lat*math.Pi/180, lon*math.Pi/180
	p.CosLat = math.Cos(p.Lat)
	return p, true
}

// Position returns the store's position; ok is false for a store without
// both coordinates (or with coordinates off the globe).
func (s *Store) Position() (p Position, ok bool) { return s.pos, s.hasPos }

// Readable reports whether clients may download from the store.
func (s *Store) Readable() bool { return !s.WriteOnly }

// DownloadsBefore reports whether clients should rather download from s
// than from o, other things equal: the higher download priority first, an
// unset one lowest; on a tie the higher upload priority.
func (s *Store) DownloadsBefore(o *Store) bool {
	if c := comparePriority(s.DownloadPriority, o.DownloadPriority); c != 0 {
		return c > 0
	}
	return comparePriority(s.UploadPriority, o.UploadPriority) > 0
}

// comparePriority orders two priorities, nil lowest.
func comparePriority(a, b *int) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return cmp.Compare(*a, *b)
}

// AppendURL appends to dst the URL a client downloads the file stored under
// key from: the store's base URL and the key escaped (a Guix name's + ? =).
func (s *Store) AppendURL(dst, key []byte) []byte {
	dst = append(dst, s.BaseURL...)
	dst = append(dst, '/')
	return narinfo.AppendEscapedKey(dst, key)
}

// loadStores reads every store row into the in-memory map readers use.
// Stores are few (a handful of places holding NAR files), so a redirect
// looks a store up in memory instead of decoding it from the replica.
func (r *Replica) loadStores() error {
	m, err := r.readStores(r.db)
	if err != nil {
		return err
	}
	r.stores.Store(&m)
	return nil
}

func (r *Replica) readStores(rd pebble.Reader) (map[string]*Store, error) {
	it, err := rd.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixStore}, UpperBound: []byte{prefixStore + 1}})
	if err != nil {
		return nil, r.check(err)
	}
	m := map[string]*Store{}
	for it.First(); it.Valid(); it.Next() {
		s, err := decodeStore(it.Value())
		if err != nil {
			it.Close()
			return nil, err
		}
		m[string(it.Key()[1:])] = s
	}
	if err := r.check(it.Close()); err != nil {
		return nil, fmt.Errorf("read stores: %w", err)
	}
	return m, nil
}

func decodeStore(v []byte) (*Store, error) {
	var s Store
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, fmt.Errorf("decode store: %w", err)
	}
	if s.Latitude != nil && s.Longitude != nil {
		s.pos, s.hasPos = PositionOf(*s.Latitude, *s.Longitude)
	}
	return &s, nil
}

// storeFromColumns builds the JSON value of a store row from its published
// columns (text format; absent or NULL columns are nil).
func storeFromColumns(col map[string][]byte) ([]byte, error) {
	s := Store{
		Name:    string(col["name"]),
		Kind:    string(col["kind"]),
		BaseURL: string(col["base_url"]),
		Region:  string(col["region"]),
	}
	var err error
	if s.ID, err = strconv.Atoi(string(col["id"])); err != nil {
		return nil, fmt.Errorf("store id %q: %w", col["id"], err)
	}
	for name, dst := range map[string]**int{"upload_priority": &s.UploadPriority, "download_priority": &s.DownloadPriority} {
		if v := col[name]; v != nil {
			n, err := strconv.Atoi(string(v))
			if err != nil {
				return nil, fmt.Errorf("store %s %q: %w", name, v, err)
			}
			*dst = &n
		}
	}
	for name, dst := range map[string]**float64{"latitude": &s.Latitude, "longitude": &s.Longitude} {
		if v := col[name]; v != nil {
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return nil, fmt.Errorf("store %s %q: %w", name, v, err)
			}
			*dst = &f
		}
	}
	for name, dst := range map[string]*bool{"read_only": &s.ReadOnly, "write_only": &s.WriteOnly} {
		if v := col[name]; v != nil {
			// pgoutput's text form of a boolean: t or f.
			b, err := strconv.ParseBool(string(v))
			if err != nil {
				return nil, fmt.Errorf("store %s %q: %w", name, v, err)
			}
			*dst = b
		}
	}
	if v := col["settings"]; len(v) > 0 {
		if !json.Valid(v) {
			return nil, fmt.Errorf("store settings %q: not JSON", v)
		}
		s.Settings = append(json.RawMessage(nil), v...)
	}
	return json.Marshal(s)
}
