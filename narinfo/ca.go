package narinfo

import (
	"errors"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixhash"
)

// caAlgorithms are the hash algorithms a fixed-output CA may name, and the
// digest size of each.
var caAlgorithms = map[string]int{"md5": 16, "sha1": 20, "sha256": 32, "sha512": 64}

// parseCA checks the value of a CA field in the forms Nix writes:
// "fixed:r:<algo>:<hash>" (recursive, NAR hashed), "fixed:<algo>:<hash>"
// (flat file) and "text:sha256:<hash>", with algo one of md5, sha1, sha256,
// sha512 (text: sha256 only) and the hash in nixbase32, base16 or base64 of
// the digest's exact length. The value is kept as written.
func parseCA(value string) error {
	method, hash, ok := strings.Cut(value, ":")
	if !ok {
		return errors.New(`not "fixed:[r:]<algo>:<hash>" or "text:sha256:<hash>"`)
	}
	switch method {
	case "fixed":
		hash = strings.TrimPrefix(hash, "r:")
	case "text":
		if !strings.HasPrefix(hash, "sha256:") {
			return errors.New("text hash is not sha256")
		}
	default:
		return errors.New(`method is neither "fixed" nor "text"`)
	}
	algo, _, ok := strings.Cut(hash, ":")
	size, known := caAlgorithms[algo]
	if !ok || !known {
		return errors.New("hash is not <md5|sha1|sha256|sha512>:<digest>")
	}
	h, err := nixhash.ParseAny(hash, nil)
	// ParseAny picks the encoding by length alone and does not check
	// what base64 decodes to.
	if err != nil || len(h.Digest()) != size {
		return errors.New("invalid " + algo + " hash")
	}
	return nil
}
