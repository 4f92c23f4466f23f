package narinfo

import (
	"errors"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// narExtensions maps the extension after ".nar" to the compression name Nix
// writes in a narinfo's Compression field.
var narExtensions = map[string]string{
	"":      "none",
	".xz":   "xz",
	".bz2":  "bzip2",
	".zst":  "zstd",
	".lzip": "lzip",
	".lz4":  "lz4",
	".br":   "br",
	".gz":   "gzip",
}

// ParseNarFileName parses the path of a NAR file relative to the cache root as Nix names it:
// "nar/<52-char nixbase32 sha256>.nar" optionally followed by one of .xz .bz2 .zst .lzip .lz4 .br .gz
// It returns the file hash in the normalized form "sha256:<nixbase32>" and the compression
// ("none" when there is no extension; "xz","bzip2","zstd","lzip","lz4","br","gzip" otherwise).
// Anything else (other dirs, "..", percent-encoding, wrong hash length/alphabet) is an error.
func ParseNarFileName(p string) (fileHash, compression string, err error) {
	const sha256Len = 52 // nixbase32 length of a sha256 digest
	rest, ok := strings.CutPrefix(p, "nar/")
	if !ok {
		return "", "", errors.New("NAR file name not under nar/")
	}
	if len(rest) < sha256Len+len(".nar") || rest[sha256Len:sha256Len+len(".nar")] != ".nar" {
		return "", "", errors.New("NAR file name is not nar/<sha256>.nar[.ext]")
	}
	hash, ext := rest[:sha256Len], rest[sha256Len+len(".nar"):]
	compression, ok = narExtensions[ext]
	if !ok {
		return "", "", errors.New("NAR file name has an unknown compression extension")
	}
	if err := nixbase32.ValidateString(hash); err != nil {
		return "", "", errors.New("NAR file name has an invalid sha256 hash")
	}
	return "sha256:" + hash, compression, nil
}
