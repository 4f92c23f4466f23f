package narinfo

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
)

// SecretKey is a Nix binary cache signing key: a name and an ed25519 key.
// Its text form is "name:base64" of the 64-byte seed+public key, as
// nix-store --generate-binary-cache-key writes it.
type SecretKey struct {
	name string
	key  ed25519.PrivateKey
}

// PublicKey is a Nix binary cache public key: a name and a 32-byte ed25519
// key, written "name:base64" as in Nix's trusted-public-keys.
type PublicKey struct {
	name string
	key  ed25519.PublicKey
}

// GenerateKey makes a new key pair named name. The name may not be empty or
// contain ':' or white space, since Nix's key lists are space-separated and
// the name ends at the first ':'.
func GenerateKey(name string) (SecretKey, PublicKey, error) {
	if err := validateKeyName(name); err != nil {
		return SecretKey{}, PublicKey{}, err
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return SecretKey{}, PublicKey{}, err
	}
	return SecretKey{name, priv}, PublicKey{name, pub}, nil
}

func validateKeyName(name string) error {
	if name == "" || strings.ContainsAny(name, ": \t\r\n") {
		return errors.New("key name must be non-empty, without ':' or white space")
	}
	return nil
}

// ParseSecretKey parses a secret key in Nix's "name:base64" form, ignoring
// surrounding white space such as a trailing newline in a key file. It checks
// that the public half matches the seed, so a damaged key cannot produce
// signatures that its own public key rejects.
//
// The key is decoded here rather than with go-nix's signature.LoadSecretKey
// because that type keeps its bytes unexported.
func ParseSecretKey(s string) (SecretKey, error) {
	name, b64, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || validateKeyName(name) != nil {
		return SecretKey{}, errors.New("secret key is not name:base64")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) != ed25519.PrivateKeySize {
		return SecretKey{}, errors.New("secret key is not base64 of 64 bytes")
	}
	priv := ed25519.PrivateKey(key)
	if !bytes.Equal(ed25519.NewKeyFromSeed(priv.Seed()), priv) {
		return SecretKey{}, errors.New("secret key's public half does not match its seed")
	}
	return SecretKey{name, priv}, nil
}

// ParsePublicKey parses a public key in Nix's "name:base64" form, ignoring
// surrounding white space.
func ParsePublicKey(s string) (PublicKey, error) {
	k, err := signature.ParsePublicKey(strings.TrimSpace(s))
	if err != nil {
		return PublicKey{}, errors.New("public key is not name:base64 of 32 bytes")
	}
	return PublicKey{k.Name, k.Data}, nil
}

// Name returns the key's name, the part before ':' in its text form.
func (k SecretKey) Name() string { return k.name }

// String returns "name:base64", what nix-store --generate-binary-cache-key writes.
func (k SecretKey) String() string {
	return k.name + ":" + base64.StdEncoding.EncodeToString(k.key)
}

// Public returns the public key that verifies k's signatures.
func (k SecretKey) Public() PublicKey {
	return PublicKey{k.name, k.key.Public().(ed25519.PublicKey)}
}

// Sign signs a fingerprint (see NarInfo.Fingerprint) and returns
// "name:base64sig", ready for a Sig: line. ed25519 signatures are
// deterministic: the same key and fingerprint give the same value.
func (k SecretKey) Sign(fingerprint string) string {
	sig := ed25519.Sign(k.key, []byte(fingerprint))
	return k.name + ":" + base64.StdEncoding.EncodeToString(sig)
}

// Name returns the key's name, the part before ':' in its text form.
func (k PublicKey) Name() string { return k.name }

// String returns "name:base64", the form Nix's trusted-public-keys takes.
func (k PublicKey) String() string {
	return k.name + ":" + base64.StdEncoding.EncodeToString(k.key)
}
