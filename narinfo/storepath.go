package narinfo

import (
	"errors"
	"path"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// NixStoreDir is the store directory of Nix. Guix uses "/gnu/store".
const NixStoreDir = "/nix/store"

const (
	hashLen    = 32  // length of the hash part of a store path
	maxNameLen = 211 // longest store path name Nix accepts
)

// ValidHash reports whether s is a 32-character nixbase32 store path hash
// (alphabet 0123456789abcdfghijklmnpqrsvwxyz).
func ValidHash(s string) bool {
	if len(s) != hashLen {
		return false
	}
	for i := range len(s) {
		if !nixbase32.Is(s[i]) {
			return false
		}
	}
	return true
}

// ValidateName checks a store path name: 1–211 chars of [A-Za-z0-9+\-._?=],
// not "." or "..", not starting with ".-" or "..-".
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("empty store path name")
	case len(name) > maxNameLen:
		return errors.New("store path name longer than 211 characters")
	case name == "." || name == "..":
		return errors.New(`store path name is "." or ".."`)
	case strings.HasPrefix(name, ".-") || strings.HasPrefix(name, "..-"):
		return errors.New(`store path name starts with ".-" or "..-"`)
	}
	for i := range len(name) {
		if !nameChar(name[i]) {
			return errors.New("store path name has a character outside [A-Za-z0-9+-._?=]")
		}
	}
	return nil
}

func nameChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("+-._?=", c) >= 0
}

// ParseStorePath splits "<storeDir>/<hash>-<name>" and validates both parts.
func ParseStorePath(storeDir, path string) (hash, name string, err error) {
	base, ok := strings.CutPrefix(path, storeDir+"/")
	if !ok {
		return "", "", errors.New("wrong store dir, want " + storeDir)
	}
	return ParseBaseName(base)
}

// ParseBaseName splits "<hash>-<name>" (as in References/Deriver) and validates.
func ParseBaseName(base string) (hash, name string, err error) {
	if len(base) < hashLen+2 || base[hashLen] != '-' {
		return "", "", errors.New("store path base name is not <hash>-<name>")
	}
	hash, name = base[:hashLen], base[hashLen+1:]
	if !ValidHash(hash) {
		return "", "", errors.New("invalid store path hash")
	}
	if err := ValidateName(name); err != nil {
		return "", "", err
	}
	return hash, name, nil
}

// CheckStoreDir checks a store directory as a cache announces it in
// nix-cache-info and as store paths start: a clean absolute directory
// ("/nix/store", "/gnu/store"), not "/", with no space or control
// characters (it ends up in a "StoreDir: " line).
func CheckStoreDir(dir string) error {
	switch {
	case !strings.HasPrefix(dir, "/"):
		return errors.New("store directory is not an absolute path")
	case dir == "/":
		return errors.New(`store directory is "/"`)
	case path.Clean(dir) != dir:
		return errors.New("store directory is not a clean path (trailing slash, //, . or ..)")
	case strings.ContainsFunc(dir, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return errors.New("store directory has a space or control character")
	}
	return nil
}
