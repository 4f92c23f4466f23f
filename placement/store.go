package placement

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"regexp"
	"time"

	"github.com/narthex-cache/narthex/config"
	"github.com/narthex-cache/narthex/stores"
)

// ValidName matches a store name: 1 to 40 characters of [a-z0-9_-],
// starting with a letter or digit, so that a name is safe in logs, shells,
// metric labels and URLs and never looks like a flag.
var ValidName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// NameRule says what ValidName accepts, for help texts and errors.
const NameRule = "1 to 40 characters of a-z, 0-9, '_' and '-', starting with a letter or digit"

// Store is one row of the store table. The nullable columns are pointers:
// nil is unset.
type Store struct {
	ID   int32  `json:"id"` // set by Add; ignored by it
	Name string `json:"name"`
	Kind string `json:"kind"` // stores.KindLocal, KindS3 or KindHTTP
	// BaseURL is where clients download from: the origin's public URL for
	// a local store, a mirror's URL for an http one, and for an s3 store a
	// public URL of the bucket, or empty when downloads are presigned.
	BaseURL string `json:"base_url"`
	// Region is free text for operators (an s3 store's is its bucket's).
	Region    string   `json:"region"`
	Latitude  *float64 `json:"latitude"`
	Longitude *float64 `json:"longitude"`
	// Priorities are tried in descending order, unset counted lowest.
	UploadPriority   *int32 `json:"upload_priority"`
	DownloadPriority *int32 `json:"download_priority"`
	Populate         bool   `json:"populate"`
	Drain            bool   `json:"drain"`
	// DrainTo names the store a draining store moves its payloads to; empty
	// for stores chosen by the upload rules.
	DrainTo     string `json:"drain_to,omitempty"`
	ReadOnly    bool   `json:"read_only"`
	WriteOnly   bool   `json:"write_only"`
	SoftMaxSize *int64 `json:"soft_max_size"`
	MaxSize     *int64 `json:"max_size"`
	// Settings are the kind's settings as the settings column holds them:
	// stores.S3Settings for s3, stores.LocalSettings for local, {} for http. They
	// are replicated to every edge, so never a secret. Nil is {}.
	Settings  json.RawMessage `json:"settings"`
	CreatedAt time.Time       `json:"created_at"`
}

// Validate names the first field that cannot work, as a *config.Error.
// Whether DrainTo names a store is for the database to say: Add and Set
// check it.
func (s Store) Validate() error {
	if !ValidName.MatchString(s.Name) {
		return &config.Error{Field: "Name", Value: fmt.Sprintf("%q", s.Name), Problem: "is not a store name", Why: NameRule}
	}
	return s.validatePolicy()
}

// validatePolicy is Validate without the name, which Set never changes: a
// store the origin registered under a name from its own configuration can
// still have its policy set.
func (s Store) validatePolicy() error {
	switch s.Kind {
	case stores.KindLocal, stores.KindS3, stores.KindHTTP:
	default:
		return &config.Error{Field: "Kind", Value: fmt.Sprintf("%q", s.Kind), Problem: "is not a kind of store", Why: "want local, s3 or http"}
	}
	if err := s.validateBaseURL(); err != nil {
		return err
	}
	if err := s.validateSettings(); err != nil {
		return err
	}
	switch {
	case s.ReadOnly && s.WriteOnly:
		return &config.Error{Field: "ReadOnly", Value: true, Problem: "contradicts", Other: "WriteOnly", OtherValue: true, Why: "a store nothing is written to and nothing is read from holds nothing of use"}
	case s.WriteOnly && s.Kind == stores.KindHTTP:
		return &config.Error{Field: "WriteOnly", Value: true, Problem: "cannot be set on an http store", Why: "an http mirror is never written to"}
	case s.DrainTo != "" && !s.Drain:
		return &config.Error{Field: "DrainTo", Value: fmt.Sprintf("%q", s.DrainTo), Problem: "is set on a store that does not drain"}
	case s.DrainTo != "" && s.DrainTo == s.Name:
		return &config.Error{Field: "DrainTo", Value: fmt.Sprintf("%q", s.DrainTo), Problem: "is the store itself", Why: "a store cannot drain into itself"}
	}
	for _, sz := range []struct {
		field string
		v     *int64
	}{{"SoftMaxSize", s.SoftMaxSize}, {"MaxSize", s.MaxSize}} {
		if sz.v != nil && *sz.v < 0 {
			return &config.Error{Field: sz.field, Value: *sz.v, Problem: "must not be negative"}
		}
	}
	if s.SoftMaxSize != nil && s.MaxSize != nil && *s.SoftMaxSize > *s.MaxSize {
		return &config.Error{Field: "SoftMaxSize", Value: *s.SoftMaxSize, Problem: "is above", Other: "MaxSize", OtherValue: *s.MaxSize}
	}
	return s.validateCoordinates()
}

func (s Store) validateBaseURL() error {
	if s.BaseURL == "" {
		switch s.Kind {
		case stores.KindHTTP:
			return &config.Error{Field: "BaseURL", Value: `""`, Problem: "is required", Why: "an http store is downloaded from its base URL"}
		case stores.KindLocal:
			return &config.Error{Field: "BaseURL", Value: `""`, Problem: "is required", Why: "a local store is downloaded from the origin's public URL"}
		}
		return nil
	}
	u, err := url.Parse(s.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return &config.Error{Field: "BaseURL", Value: fmt.Sprintf("%q", s.BaseURL), Problem: "is not an http(s) base URL"}
	}
	return nil
}

func (s Store) validateSettings() error {
	bad := func(err error) error {
		return &config.Error{Field: "Settings", Value: string(s.settings()), Problem: "do not work", Why: err.Error()}
	}
	switch s.Kind {
	case stores.KindS3:
		var st stores.S3Settings
		if err := decodeStrict(s.settings(), &st); err != nil {
			return bad(err)
		}
		if err := st.Validate(); err != nil {
			return bad(err)
		}
	case stores.KindLocal:
		// The origin's own store, which it registers at start, keeps its
		// directory in the origin's configuration, and has none here.
		var st stores.LocalSettings
		if err := decodeStrict(s.settings(), &st); err != nil {
			return bad(err)
		}
		if st.Dir != "" && !filepath.IsAbs(st.Dir) {
			return bad(fmt.Errorf("dir %q is not an absolute path", st.Dir))
		}
	case stores.KindHTTP:
		var st struct{}
		if err := decodeStrict(s.settings(), &st); err != nil {
			return bad(err)
		}
	}
	return nil
}

// settings returns the settings column's value: Settings, or {}.
func (s Store) settings() []byte {
	if len(bytes.TrimSpace(s.Settings)) == 0 {
		return []byte("{}")
	}
	return s.Settings
}

// decodeStrict reads the JSON object b into v, refusing keys v does not
// have: a misspelt setting would otherwise be dropped without a word.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the settings object")
	}
	return nil
}

func (s Store) validateCoordinates() error {
	switch {
	case (s.Latitude == nil) != (s.Longitude == nil):
		if s.Latitude == nil {
			return &config.Error{Field: "Latitude", Value: "unset", Problem: "must be set with", Other: "Longitude", OtherValue: *s.Longitude}
		}
		return &config.Error{Field: "Longitude", Value: "unset", Problem: "must be set with", Other: "Latitude", OtherValue: *s.Latitude}
	case s.Latitude == nil:
		return nil
	case math.IsNaN(*s.Latitude) || *s.Latitude < -90 || *s.Latitude > 90:
		return &config.Error{Field: "Latitude", Value: *s.Latitude, Problem: "is outside [-90, 90]"}
	case math.IsNaN(*s.Longitude) || *s.Longitude < -180 || *s.Longitude > 180:
		return &config.Error{Field: "Longitude", Value: *s.Longitude, Problem: "is outside [-180, 180]"}
	}
	return nil
}
