package stores

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// The kinds of store, as the store table's kind column names them.
const (
	KindLocal = "local" // a directory on the origin's machine, served by the origin
	KindS3    = "s3"    // an S3-compatible bucket
	KindHTTP  = "http"  // a read-only mirror: another binary cache
)

// DefaultPresignExpiry is how long a presigned download URL stays valid
// when S3Settings.PresignExpiry is unset: long enough for a slow client
// to start a large download, short enough that a leaked URL soon expires.
const DefaultPresignExpiry = 15 * time.Minute

// S3Settings is how a process reaches an S3-compatible bucket: the kind's
// settings column of the store table. It is replicated to every edge, so it
// holds no secret: credentials come from the process's own configuration
// (the AWS SDK's environment variables and shared files, under Profile).
type S3Settings struct {
	// Endpoint is the service's base URL (https://s3.eu-central-1.amazonaws.com).
	Endpoint string `json:"endpoint"`
	Region   string `json:"region"`
	Bucket   string `json:"bucket"`
	// Prefix is put before every key in the bucket ("cache/" makes key
	// "nar/x.nar.xz" the object "cache/nar/x.nar.xz"); empty for none.
	Prefix string `json:"prefix,omitempty"`
	// PathStyle addresses the bucket as <endpoint>/<bucket>/<object>
	// instead of <bucket>.<endpoint host>/<object>.
	PathStyle bool `json:"path_style,omitempty"`
	// PresignExpiry is the validity of presigned download URLs, in Go's
	// duration syntax ("15m"); empty for DefaultPresignExpiry. Downloads are
	// presigned when the store has no public base URL.
	PresignExpiry string `json:"presign_expiry,omitempty"`
	// Profile names the credentials profile of the process's shared AWS
	// files; empty for the SDK's default chain.
	Profile string `json:"profile,omitempty"`
}

// Validate names the first setting that cannot work.
func (s S3Settings) Validate() error {
	u, err := url.Parse(s.Endpoint)
	switch {
	case s.Endpoint == "":
		return errors.New("s3: endpoint is required")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("s3: endpoint %q is not an http(s) base URL", s.Endpoint)
	case s.Region == "":
		return errors.New("s3: region is required")
	case !validBucket(s.Bucket):
		return fmt.Errorf("s3: bucket %q is not a bucket name (3-63 of a-z, 0-9, '.', '-')", s.Bucket)
	case s.Prefix != "" && (strings.HasPrefix(s.Prefix, "/") || strings.Contains(s.Prefix, "..")):
		return fmt.Errorf("s3: prefix %q must not start with / or contain ..", s.Prefix)
	}
	if _, err := s.Expiry(); err != nil {
		return err
	}
	return nil
}

// Expiry is the validity of presigned URLs.
func (s S3Settings) Expiry() (time.Duration, error) {
	if s.PresignExpiry == "" {
		return DefaultPresignExpiry, nil
	}
	d, err := time.ParseDuration(s.PresignExpiry)
	// SigV4 allows at most seven days.
	if err != nil || d < time.Second || d > 7*24*time.Hour {
		return 0, fmt.Errorf("s3: presign expiry %q is not a duration between 1s and 168h", s.PresignExpiry)
	}
	return d, nil
}

func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (c == '.' || c == '-') && i > 0 && i < len(b)-1
		if !ok {
			return false
		}
	}
	return true
}

// ParseS3Settings reads the settings column of an s3 store.
func ParseS3Settings(b []byte) (S3Settings, error) {
	var s S3Settings
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("s3 settings: %w", err)
	}
	return s, s.Validate()
}
