package narinfo

import (
	"crypto/ed25519"
	"strconv"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
)

// SigStatus is what CheckSig concludes about one signature.
type SigStatus int

const (
	SigUnknownKey SigStatus = iota // no key has the signature's name
	SigValid                       // a key with the signature's name verifies it
	SigInvalid                     // keys with that name exist but none verifies it, or the signature is malformed
)

func (s SigStatus) String() string {
	switch s {
	case SigUnknownKey:
		return "unknown key"
	case SigValid:
		return "valid"
	case SigInvalid:
		return "invalid"
	}
	return "SigStatus(" + strconv.Itoa(int(s)) + ")"
}

// CheckSig classifies one Sig value against a set of keys: SigValid if some key with the same name verifies it,
// SigInvalid if keys with that name exist but none verifies it (or the sig is malformed), SigUnknownKey if no key has that name.
//
// Unlike go-nix's VerifyFirst, every key with the name is tried, so a cache
// can rotate a key while keeping its name.
func CheckSig(fingerprint, sig string, keys []PublicKey) SigStatus {
	s, err := signature.ParseSignature(sig)
	if err != nil {
		return SigInvalid
	}
	status := SigUnknownKey
	for _, k := range keys {
		if k.name != s.Name {
			continue
		}
		if ed25519.Verify(k.key, []byte(fingerprint), s.Data) {
			return SigValid
		}
		status = SigInvalid
	}
	return status
}
