package loadtest

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/narinfo"
)

// DefaultRefsMax is the default largest number of references of a
// synthetic path.
const DefaultRefsMax = 50

// SigningKey is the key that signs the synthetic cache of seed. It is
// derived from the seed, so a test or a client can check the signatures of
// a cache populated earlier.
func SigningKey(seed int64) narinfo.SecretKey {
	sum := digest(domainKey, seed, 0)
	priv := ed25519.NewKeyFromSeed(sum[:])
	key, err := narinfo.ParseSecretKey(fmt.Sprintf("loadtest-%d-1:%s", seed, base64.StdEncoding.EncodeToString(priv)))
	if err != nil {
		panic("loadtest: derived signing key does not parse: " + err.Error())
	}
	return key
}

// Synth makes the store paths of a synthetic cache: path i of a seed is
// always the same, so populate, lookup and tests agree on it without
// sharing state. Its methods are safe for concurrent use.
type Synth struct {
	Seed    int64
	RefsMax int // largest number of references of a path
	Key     narinfo.SecretKey
	domain  domain // of the store path hashes: domainHit for populate's
	// graph, when set, gives the references of path i (all below i)
	// instead of the draw RefsMax bounds.
	graph func(i int) []int
}

// NewSynth makes the synthetic cache of seed, signed with SigningKey(seed):
// path i has the hash Hash(seed, i).
func NewSynth(seed int64, refsMax int) *Synth {
	return &Synth{Seed: seed, RefsMax: refsMax, Key: SigningKey(seed), domain: domainHit}
}

// newSideSynth makes paths without references whose hashes come from d,
// apart from every populated cache.
func newSideSynth(d domain, seed int64) *Synth {
	return &Synth{Seed: seed, Key: SigningKey(seed), domain: d}
}

// SynthPath is one synthetic store path.
type SynthPath struct {
	Info *narinfo.NarInfo
	Refs []int  // the indices of the paths it references, all below its own
	Body []byte // the narinfo text as the origin serves it, signed
}

// Path returns the i-th path: an xz-compressed NAR with realistic sizes, a
// deriver, references to earlier paths only (so the graph of any prefix of
// the cache is closed) and a Sig by s.Key. Its body is what Render writes.
func (s *Synth) Path(i int) SynthPath {
	sum := digest(s.domain, s.Seed, int64(i))
	hash, name := s.baseName(sum)
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[8:]), binary.LittleEndian.Uint64(sum[24:])))
	narSize := logUniform(rng, 2<<10, 256<<20)
	fileSize := max(1, uint64(float64(narSize)*(0.15+0.3*rng.Float64())))
	fileHash := sha256Of(domainFile, s.Seed, int64(i))

	var refs []int
	if s.graph != nil {
		refs = s.graph(i)
	} else {
		refs = s.refs(rng, i)
	}
	refNames := make([]string, len(refs))
	for k, j := range refs {
		h, n := s.baseName(digest(s.domain, s.Seed, int64(j)))
		refNames[k] = h + "-" + n
	}
	// Nix writes references in store path order.
	slices.Sort(refNames)

	ni := &narinfo.NarInfo{
		StorePath: narinfo.NixStoreDir + "/" + hash + "-" + name,
		Hash:      hash,
		Name:      name,
		Files: []narinfo.File{{
			URL:         "nar/" + fileHash[len("sha256:"):] + ".nar.xz",
			Compression: "xz",
			FileHash:    fileHash,
			FileSize:    fileSize,
		}},
		NarHash:    sha256Of(domainNar, s.Seed, int64(i)),
		NarSize:    narSize,
		References: refNames,
		Deriver:    hashOf(domainDeriver, s.Seed, int64(i)) + "-" + derivationName(name) + ".drv",
	}
	ni.Sigs = []string{s.Key.Sign(fingerprint(ni))}
	return SynthPath{Info: ni, Refs: refs, Body: render(ni)}
}

// fingerprint is ni.Fingerprint(narinfo.NixStoreDir) for a narinfo whose
// references are sorted and NarHash is nixbase32, built in one buffer.
func fingerprint(ni *narinfo.NarInfo) string {
	n := len(ni.StorePath) + len(ni.NarHash) + 32
	for _, r := range ni.References {
		n += len(narinfo.NixStoreDir) + 2 + len(r)
	}
	b := make([]byte, 0, n)
	b = append(b, "1;"...)
	b = append(b, ni.StorePath...)
	b = append(b, ';')
	b = append(b, ni.NarHash...)
	b = append(b, ';')
	b = strconv.AppendUint(b, ni.NarSize, 10)
	b = append(b, ';')
	for k, r := range ni.References {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, narinfo.NixStoreDir...)
		b = append(b, '/')
		b = append(b, r...)
	}
	return string(b)
}

// render is ni.Render() for the fields Path sets, built in one buffer.
func render(ni *narinfo.NarInfo) []byte {
	f := &ni.Files[0]
	n := 200 + len(ni.StorePath) + len(f.URL) + len(f.FileHash) + len(ni.NarHash) + len(ni.Deriver)
	for _, r := range ni.References {
		n += len(r) + 1
	}
	for _, s := range ni.Sigs {
		n += len(s) + 6
	}
	b := make([]byte, 0, n)
	line := func(key, value string) {
		b = append(b, key...)
		b = append(b, ": "...)
		b = append(b, value...)
		b = append(b, '\n')
	}
	line("StorePath", ni.StorePath)
	line("URL", f.URL)
	line("Compression", f.Compression)
	line("FileHash", f.FileHash)
	b = strconv.AppendUint(append(b, "FileSize: "...), f.FileSize, 10)
	b = append(b, '\n')
	line("NarHash", ni.NarHash)
	b = strconv.AppendUint(append(b, "NarSize: "...), ni.NarSize, 10)
	b = append(b, "\nReferences: "...)
	for k, r := range ni.References {
		if k > 0 {
			b = append(b, ' ')
		}
		b = append(b, r...)
	}
	b = append(b, '\n')
	line("Deriver", ni.Deriver)
	for _, s := range ni.Sigs {
		line("Sig", s)
	}
	return b
}

// refs picks the references of path i among the earlier paths: a few for
// most paths (about RefsMax/8 on average), none for some, up to RefsMax for
// very few. Half point deep into the cache (the few paths everything
// needs, like a libc), half at recent neighbours (a package set built
// together).
func (s *Synth) refs(rng *rand.Rand, i int) []int {
	n := min(int(rng.ExpFloat64()*float64(s.RefsMax)/8), s.RefsMax, i)
	refs := make([]int, 0, n)
	for tries := 0; len(refs) < n && tries < 8*n; tries++ {
		var j int
		if rng.IntN(2) == 0 {
			v := rng.Float64()
			j = int(float64(i) * v * v * v * v)
		} else {
			j = i - 1 - rng.IntN(min(i, 1000))
		}
		if !slices.Contains(refs, j) {
			refs = append(refs, j)
		}
	}
	return refs
}

// Hash returns the hash part of path i.
func (s *Synth) Hash(i int) string { return hashOf(s.domain, s.Seed, int64(i)) }

// Name returns the store path name of path i, such as "openssl-3.0.13-dev".
func (s *Synth) Name(i int) string {
	_, name := s.baseName(digest(s.domain, s.Seed, int64(i)))
	return name
}

// baseName returns the hash part and the name of the path whose digest is
// sum: the hash from its first 20 bytes, the name from the rest.
func (s *Synth) baseName(sum [32]byte) (hash, name string) {
	var h [HashLen]byte
	nixbase32.Encode(h[:], sum[:20])
	v := binary.LittleEndian.Uint64(sum[20:28])
	w := binary.LittleEndian.Uint32(sum[28:32])
	pkg := packageNames[v%uint64(len(packageNames))]
	v /= uint64(len(packageNames))
	b := make([]byte, 0, len(pkg)+16)
	b = append(b, pkg...)
	b = append(b, '-')
	b = strconv.AppendUint(b, v%40, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, (v/40)%30, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, (v/1200)%20, 10)
	if out := outputNames[w%uint32(len(outputNames))]; out != "" {
		b = append(b, '-')
		b = append(b, out...)
	}
	return string(h[:]), string(b)
}

// derivationName strips the output name, as a derivation is named after
// its package.
func derivationName(name string) string {
	for _, out := range outputNames {
		if out != "" && len(name) > len(out)+1 && name[len(name)-len(out)-1:] == "-"+out {
			return name[:len(name)-len(out)-1]
		}
	}
	return name
}

// logUniform draws from [lo, hi) so that every order of magnitude is as
// likely, as file sizes in a cache are.
func logUniform(rng *rand.Rand, lo, hi float64) uint64 {
	return uint64(math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo))))
}

// outputNames are the outputs of a package; "" is the default output, the
// most common.
var outputNames = []string{"", "", "", "", "dev", "lib", "man", "doc", "bin"}

// packageNames are package names as they appear in nixpkgs.
var packageNames = []string{
	"glibc", "bash", "coreutils", "openssl", "zlib", "python3", "perl", "gcc",
	"libxml2", "curl", "systemd", "gtk+3", "qtbase", "nodejs", "rustc", "ghc",
	"boost", "llvm", "ncurses", "readline", "sqlite", "libffi", "gnugrep",
	"gnused", "xz", "bzip2", "expat", "pcre2", "libpng", "freetype", "fontconfig",
	"harfbuzz", "cairo", "pango", "glib", "dbus", "util-linux", "shadow", "attr",
	"acl", "libcap", "gmp", "mpfr", "isl", "binutils", "gettext", "libiconv",
	"python3.12-requests", "python3.12-numpy", "python3.12-setuptools",
	"python3.12-urllib3", "python3.12-idna", "haskell-aeson", "haskell-text",
	"rust-serde", "go", "openjdk", "mesa", "libdrm", "wayland", "libX11",
	"libxcb", "ffmpeg", "gstreamer", "nix", "git", "vim", "emacs", "firefox",
}
