package stores

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// ErrInvalidKey is returned for a key that is not a clean relative slash
// path inside the store.
var ErrInvalidKey = errors.New("invalid key")

// tempPrefix starts the names of files a store writes before it commits
// them. Keys may not name such files.
const tempPrefix = ".tmp-"

// ValidKey reports whether key may name an object: a relative slash path
// ("nar/<hash>.nar.xz") with no empty, "." or ".." elements, no element
// starting with "." (those are the store's own files), and no backslash or
// NUL.
func ValidKey(key string) error {
	if !fs.ValidPath(key) || key == "." || strings.ContainsAny(key, "\\\x00") {
		return fmt.Errorf("%w %q", ErrInvalidKey, key)
	}
	for elem := range strings.SplitSeq(key, "/") {
		if strings.HasPrefix(elem, ".") {
			return fmt.Errorf("%w %q", ErrInvalidKey, key)
		}
	}
	return nil
}
