package stores

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
)

// LocalSettings is the settings column of a local store.
type LocalSettings struct {
	// Dir is the absolute path of the store's directory on the origin.
	Dir string `json:"dir"`
}

// OpenKind opens a store from the columns of its row in the store table:
// its kind, its settings JSON (S3Settings for s3, LocalSettings for local,
// nothing for http), its public base URL, and, for local, the directory to
// use instead of the one the settings name (empty for theirs). An s3 store
// takes its credentials from the SDK's default chain under
// S3Settings.Profile; use OpenS3 to give others. The error names the kind
// or the setting that is wrong, in one line.
func OpenKind(ctx context.Context, kind string, settings []byte, baseURL, localDir string) (Store, error) {
	switch kind {
	case KindLocal:
		dir := localDir
		if dir == "" {
			var ls LocalSettings
			if err := decodeSettings(settings, &ls); err != nil {
				return nil, fmt.Errorf("local store settings: %w", err)
			}
			if ls.Dir == "" {
				return nil, fmt.Errorf("local store: no directory (settings need \"dir\")")
			}
			if !filepath.IsAbs(ls.Dir) {
				return nil, fmt.Errorf("local store: dir %q is not an absolute path", ls.Dir)
			}
			dir = ls.Dir
		}
		return Open(dir)
	case KindS3:
		s, err := ParseS3Settings(settings)
		if err != nil {
			return nil, err
		}
		return OpenS3(ctx, S3Config{Settings: s, BaseURL: baseURL})
	case KindHTTP:
		return OpenMirror(MirrorConfig{BaseURL: baseURL})
	}
	return nil, fmt.Errorf("unknown store kind %q (want %s, %s or %s)", kind, KindLocal, KindS3, KindHTTP)
}

// decodeSettings reads a settings column into v, refusing fields v does not
// have so that a misspelt setting is an error rather than ignored. Empty
// settings are no settings.
func decodeSettings(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
