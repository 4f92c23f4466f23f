package replica

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/cockroachdb/pebble/v2"
)

// Store is a place that holds NAR files, as the edge sees it.
type Store struct {
	ID               int      `json:"id"`
	Name             string   `json:"name"`
	Kind             string   `json:"kind"`
	BaseURL          string   `json:"base_url"`
	Region           string   `json:"region"`
	Latitude         *float64 `json:"latitude,omitempty"`
	Longitude        *float64 `json:"longitude,omitempty"`
	DownloadPriority int      `json:"download_priority"`
	Policy           string   `json:"policy"`
}

// Readable reports whether clients may download from the store.
func (s *Store) Readable() bool { return s.Policy != "write_only" }

// AppendURL appends to dst the URL a client downloads the file stored under
// key from.
func (s *Store) AppendURL(dst, key []byte) []byte {
	dst = append(dst, s.BaseURL...)
	dst = append(dst, '/')
	return append(dst, key...)
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
		Policy:  string(col["policy"]),
	}
	var err error
	if s.ID, err = strconv.Atoi(string(col["id"])); err != nil {
		return nil, fmt.Errorf("store id %q: %w", col["id"], err)
	}
	if v := col["download_priority"]; v != nil {
		if s.DownloadPriority, err = strconv.Atoi(string(v)); err != nil {
			return nil, fmt.Errorf("store download_priority %q: %w", v, err)
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
	return json.Marshal(s)
}
