package loadtest

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// HashLen is the length of a store path hash part.
const HashLen = 32

// domain keeps the digests of different uses apart: a miss key is never a
// hit key, a lag key never a populated one, whatever the seeds.
type domain byte

const (
	domainHit     domain = 'h' // store path hashes populate creates
	domainMiss    domain = 'm' // store path hashes nobody creates
	domainDeriver domain = 'd' // deriver hashes
	domainFile    domain = 'f' // compressed NAR file hashes
	domainNar     domain = 'n' // NAR hashes
	domainLag     domain = 'l' // paths lag inserts
	domainSoak    domain = 's' // paths soak inserts
	domainIngest  domain = 'i' // paths ingest uploads
	domainKey     domain = 'k' // the signing key of a seed
)

// digest is the SHA-256 of (d, seed, i): the root of everything synthetic
// about the i-th item of a seed.
func digest(d domain, seed int64, i int64) [32]byte {
	var b [17]byte
	b[0] = byte(d)
	binary.LittleEndian.PutUint64(b[1:], uint64(seed))
	binary.LittleEndian.PutUint64(b[9:], uint64(i))
	return sha256.Sum256(b[:])
}

// appendHash appends the 32-character nixbase32 store path hash of (d,
// seed, i) to dst.
func appendHash(dst []byte, d domain, seed int64, i int64) []byte {
	sum := digest(d, seed, i)
	n := len(dst)
	dst = append(dst, make([]byte, HashLen)...)
	nixbase32.Encode(dst[n:], sum[:20])
	return dst
}

func hashOf(d domain, seed int64, i int64) string {
	var b [HashLen]byte
	return string(appendHash(b[:0], d, seed, i))
}

// Hash is the hash part of the i-th store path of the synthetic cache of
// seed: populate creates Hash(seed, i) for every i below its count, and
// lookup asks for them as hits.
func Hash(seed int64, i int) string { return hashOf(domainHit, seed, int64(i)) }

// MissHash is a valid store path hash that populate never creates (it is
// drawn from another domain than Hash): lookup asks for it as a miss.
func MissHash(seed int64, i int) string { return hashOf(domainMiss, seed, int64(i)) }

// sha256Of returns "sha256:<nixbase32>" of the digest of (d, seed, i), a
// synthetic NarHash or FileHash.
func sha256Of(d domain, seed int64, i int64) string {
	sum := digest(d, seed, i)
	return "sha256:" + nixbase32.EncodeToString(sum[:])
}
