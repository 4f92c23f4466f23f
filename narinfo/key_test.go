package narinfo

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
)

// TestSecretKey_Sign_Nix checks signatures against what Nix 2.8 wrote with
// the key in testdata/nix-key.sec (see testdata/README.md).
func TestSecretKey_Sign_Nix(t *testing.T) {
	sk, err := ParseSecretKey(string(readTestdata(t, "nix-key.sec")))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(string(readTestdata(t, "nix-key.pub")))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sk.String(), string(readTestdata(t, "nix-key.sec")); got != want {
		t.Errorf("SecretKey.String() = %q, want %q", got, want)
	}
	if got, want := sk.Public().String(), pub.String(); got != want {
		t.Errorf("Public() = %q, want the Nix public key %q", got, want)
	}
	if sk.Name() != "narthex-test-1" || pub.Name() != "narthex-test-1" {
		t.Errorf("names = %q, %q, want narthex-test-1", sk.Name(), pub.Name())
	}

	for _, file := range []string{"nix-refs.narinfo", "nix-ca.narinfo", "nix-deriver.narinfo"} {
		t.Run(file, func(t *testing.T) {
			n, err := Parse(readTestdata(t, file), NixStoreDir)
			if err != nil {
				t.Fatal(err)
			}
			fp := n.Fingerprint(NixStoreDir)
			nixSig := n.Sigs[0]
			if got := CheckSig(fp, nixSig, []PublicKey{pub}); got != SigValid {
				t.Errorf("CheckSig(Nix's signature) = %v, want valid", got)
			}
			// ed25519 is deterministic, so our signature is byte for byte Nix's.
			if got := sk.Sign(fp); got != nixSig {
				t.Errorf("Sign = %q, want Nix's %q", got, nixSig)
			}
		})
	}
}

// TestSecretKey_Sign_Ed25519 verifies our signatures with crypto/ed25519 on
// the decoded bytes, independently of CheckSig.
func TestSecretKey_Sign_Ed25519(t *testing.T) {
	sk, pk, err := GenerateKey("cache.example.org-1")
	if err != nil {
		t.Fatal(err)
	}
	fp := nixRefs.Fingerprint(NixStoreDir)
	sig := sk.Sign(fp)

	name, b64, ok := strings.Cut(sig, ":")
	if !ok || name != "cache.example.org-1" {
		t.Fatalf("Sign = %q, want cache.example.org-1:<base64>", sig)
	}
	sigBytes, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	pubName, pubB64, _ := strings.Cut(pk.String(), ":")
	pubBytes, err := base64.StdEncoding.DecodeString(pubB64)
	if err != nil {
		t.Fatal(err)
	}
	if pubName != "cache.example.org-1" || len(pubBytes) != ed25519.PublicKeySize || len(sigBytes) != ed25519.SignatureSize {
		t.Fatalf("public key %q, signature %q: wrong name or size", pk.String(), sig)
	}
	if !ed25519.Verify(ed25519.PublicKey(pubBytes), []byte(fp), sigBytes) {
		t.Error("crypto/ed25519 rejects the signature")
	}
	if ed25519.Verify(ed25519.PublicKey(pubBytes), []byte(fp+"x"), sigBytes) {
		t.Error("crypto/ed25519 accepts the signature for another message")
	}

	// The secret key's text form holds the seed then the public key.
	_, secB64, _ := strings.Cut(sk.String(), ":")
	secBytes, err := base64.StdEncoding.DecodeString(secB64)
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.StdEncoding.EncodeToString(secBytes[32:]); got != pubB64 {
		t.Errorf("secret key's second half = %q, want the public key %q", got, pubB64)
	}

	parsed, err := ParseSecretKey(sk.String() + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if parsed.String() != sk.String() {
		t.Errorf("ParseSecretKey(String()) = %q, want %q", parsed.String(), sk.String())
	}
	parsedPub, err := ParsePublicKey(pk.String())
	if err != nil {
		t.Fatal(err)
	}
	if parsedPub.String() != pk.String() {
		t.Errorf("ParsePublicKey(String()) = %q, want %q", parsedPub.String(), pk.String())
	}
}

func TestGenerateKey_BadName(t *testing.T) {
	for _, name := range []string{"", "a:b", "a b", "a\n"} {
		if _, _, err := GenerateKey(name); err == nil {
			t.Errorf("GenerateKey(%q) succeeded, want an error", name)
		}
	}
}

func TestParseSecretKey_Invalid(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	good := ed25519.NewKeyFromSeed(seed)
	mismatched := append([]byte(nil), good...)
	mismatched[63] ^= 1

	for _, s := range []string{
		"",
		"k",
		"k:",
		":" + base64.StdEncoding.EncodeToString(good),
		"k:" + base64.StdEncoding.EncodeToString(good[:32]),
		"k:" + base64.StdEncoding.EncodeToString(good) + "x",
		"k:" + base64.StdEncoding.EncodeToString(mismatched),
		"a b:" + base64.StdEncoding.EncodeToString(good),
	} {
		if _, err := ParseSecretKey(s); err == nil {
			t.Errorf("ParseSecretKey(%q) succeeded, want an error", s)
		}
	}
	if _, err := ParseSecretKey(" k:" + base64.StdEncoding.EncodeToString(good) + "\n"); err != nil {
		t.Errorf("ParseSecretKey with surrounding white space: %v", err)
	}
}

func TestParsePublicKey_Invalid(t *testing.T) {
	pub := make([]byte, ed25519.PublicKeySize)
	for _, s := range []string{
		"",
		"k",
		"k:",
		":" + base64.StdEncoding.EncodeToString(pub),
		"k:" + base64.StdEncoding.EncodeToString(pub[:31]),
		"k:" + base64.StdEncoding.EncodeToString(append(pub, 0)),
		"k:!" + base64.StdEncoding.EncodeToString(pub),
	} {
		if _, err := ParsePublicKey(s); err == nil {
			t.Errorf("ParsePublicKey(%q) succeeded, want an error", s)
		}
	}
}

func TestCheckSig(t *testing.T) {
	sk, pk, err := GenerateKey("cache-1")
	if err != nil {
		t.Fatal(err)
	}
	_, oldPK, err := GenerateKey("cache-1") // a rotated-out key with the same name
	if err != nil {
		t.Fatal(err)
	}
	_, otherPK, err := GenerateKey("other-1")
	if err != nil {
		t.Fatal(err)
	}
	const fp = "1;/nix/store/5klx9pxl1c90q0j01ph753cpfm5dz3as-hello.txt;sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h;120;"
	sig := sk.Sign(fp)

	tests := []struct {
		name string
		fp   string
		sig  string
		keys []PublicKey
		want SigStatus
	}{
		{"valid", fp, sig, []PublicKey{pk}, SigValid},
		{"valid among others", fp, sig, []PublicKey{otherPK, oldPK, pk}, SigValid},
		{"other fingerprint", fp + "x", sig, []PublicKey{pk}, SigInvalid},
		{"wrong key with the name", fp, sig, []PublicKey{oldPK, otherPK}, SigInvalid},
		{"no key with the name", fp, sig, []PublicKey{otherPK}, SigUnknownKey},
		{"no keys", fp, sig, nil, SigUnknownKey},
		{"renamed signature", fp, "other-1" + strings.TrimPrefix(sig, "cache-1"), []PublicKey{pk, otherPK}, SigInvalid},
		{"malformed", fp, "cache-1:abc", []PublicKey{pk}, SigInvalid},
		{"malformed, no name", fp, "", []PublicKey{pk}, SigInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckSig(tt.fp, tt.sig, tt.keys); got != tt.want {
				t.Errorf("CheckSig = %v, want %v", got, tt.want)
			}
		})
	}
}
