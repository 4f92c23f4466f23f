package narinfo

import (
	"errors"
	"slices"
	"strings"
)

// NarURL is the URL of a NAR file relative to the cache root, as a
// narinfo's URL field gives it, in either dialect:
//
//   - Nix names a file by its own SHA-256: nar/<nixbase32>.nar[.xz|…].
//   - Guix names it by the store path it holds and its compression:
//     nar/<base name> (uncompressed), nar/gzip/<base name>,
//     nar/lzip/<base name> or nar/zstd/<base name>, the base name
//     percent-encoded as Guix writes it (+ ? = as %2B %3F %3D).
type NarURL struct {
	// FileHash is "sha256:<nixbase32>" for a Nix name, and "" for a
	// Guix name, which does not say what the bytes hash to.
	FileHash    string
	Compression string // as a narinfo's Compression field: none, xz, gzip, …
	// Key is the file's name in a store: the URL with its escapes
	// decoded. A URL is Key with EscapeKey's escapes.
	Key string
}

// URLKey returns the key of a file's URL: NarURL's Key, or for a URL that
// is no NAR file name the URL itself.
func URLKey(url string) string {
	u, err := ParseNarURL(url)
	if err != nil {
		return url
	}
	return u.Key
}

// guixCompressions are the folders of Guix's compressed NAR files.
var guixCompressions = []string{"gzip", "lzip", "zstd"}

// ParseNarURL parses the URL of a NAR file in the Nix or the Guix
// dialect. Anything else is an error: another folder, an unknown
// compression, a hash or base name that is not valid, and a spelling
// other than the one EscapeKey gives (so that one file has one URL).
func ParseNarURL(url string) (NarURL, error) {
	rest, ok := strings.CutPrefix(url, "nar/")
	if !ok {
		return NarURL{}, errors.New("NAR file name not under nar/")
	}
	compression := "none"
	dir, base, inDir := strings.Cut(rest, "/")
	switch {
	case inDir:
		i := slices.Index(guixCompressions, dir)
		if i < 0 {
			return NarURL{}, errors.New("NAR file folder is not gzip, lzip or zstd")
		}
		compression, rest = guixCompressions[i], base
	case len(rest) <= hashLen || rest[hashLen] != '-':
		// Not "<hash>-<name>": Nix's name of a file by its hash.
		hash, compression, err := ParseNarFileName(url)
		if err != nil {
			return NarURL{}, err
		}
		return NarURL{FileHash: hash, Compression: compression, Key: url}, nil
	}
	base, err := unescapeKey(rest)
	if err != nil {
		return NarURL{}, err
	}
	if _, _, err := ParseBaseName(base); err != nil {
		return NarURL{}, errors.New("NAR file name: " + err.Error())
	}
	if EscapeKey(base) != rest {
		return NarURL{}, errors.New("NAR file name is not escaped as Guix escapes it (+ ? = as %2B %3F %3D, nothing else)")
	}
	key := "nar/" + base
	if compression != "none" {
		key = "nar/" + compression + "/" + base
	}
	return NarURL{Compression: compression, Key: key}, nil
}

// escapes are the characters of keys that a URL spells escaped: those of
// store path names that are not unreserved in a URL (RFC 3986), and '%'.
// Guix escapes the same ones, and S3 and web servers decode them.
var escapes = [256]bool{'+': true, '?': true, '=': true, '%': true}

const upperHex = "0123456789ABCDEF"

// EscapeKey returns the URL path of key, a store's name of a file.
func EscapeKey(key string) string {
	if !needsEscape(key) {
		return key
	}
	return string(AppendEscapedKey(nil, key))
}

func needsEscape[T string | []byte](key T) bool {
	for i := range len(key) {
		if escapes[key[i]] {
			return true
		}
	}
	return false
}

// AppendEscapedKey appends the URL path of key to dst: what a redirect
// to the file appends to its store's base URL. It allocates nothing when
// dst has room.
func AppendEscapedKey[T string | []byte](dst []byte, key T) []byte {
	if !needsEscape(key) {
		return append(dst, key...)
	}
	for i := range len(key) {
		c := key[i]
		if escapes[c] {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// unescapeKey decodes the %XX escapes of s.
func unescapeKey(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errors.New("NAR file name has a broken %-escape")
		}
		hi, lo := unhex(s[i+1]), unhex(s[i+2])
		if hi < 0 || lo < 0 {
			return "", errors.New("NAR file name has a broken %-escape")
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	}
	return -1
}
