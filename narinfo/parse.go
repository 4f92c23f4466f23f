package narinfo

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixhash"
)

// unknownDeriver is what some tools write for Deriver when there is none.
const unknownDeriver = "unknown-deriver"

// Parse parses and validates a narinfo strictly. Errors are one line, safe to show an HTTP client
// (they are returned as 400 bodies), e.g. `narinfo line 3: NarSize must be > 0`.
//
// Every line is "Key: value\n" with exactly one space after the colon; only
// References may have an empty value. Control characters (tab, CR, NUL, ...)
// are rejected anywhere. Unknown keys are accepted and ignored. Errors never
// quote the input.
func Parse(text []byte, storeDir string) (*NarInfo, error) {
	switch {
	case len(text) == 0:
		return nil, errors.New("narinfo: empty")
	case !utf8.Valid(text):
		return nil, errors.New("narinfo: not valid UTF-8")
	case text[len(text)-1] != '\n':
		return nil, errors.New("narinfo: last line does not end in a newline")
	}

	p := parser{n: &NarInfo{}, storeDir: storeDir, seen: map[string]bool{}, sigs: map[string]int{}}
	for i, line := range strings.Split(string(text[:len(text)-1]), "\n") {
		if err := p.parseLine(line); err != nil {
			return nil, fmt.Errorf("narinfo line %d: %w", i+1, err)
		}
	}

	for _, key := range []string{"StorePath", "URL", "NarHash", "NarSize"} {
		if !p.seen[key] {
			return nil, fmt.Errorf("narinfo: missing %s", key)
		}
	}
	return p.n, nil
}

// parser holds the state of one Parse call.
type parser struct {
	n        *NarInfo
	storeDir string
	seen     map[string]bool // single-valued keys seen so far, and "URL"
	inGroup  map[string]bool // keys seen in the current URL group
	sigs     map[string]int  // Sig values seen so far, by their position
}

func (p *parser) parseLine(line string) error {
	if line == "" {
		return errors.New("empty line")
	}
	for i := range len(line) {
		if c := line[i]; c < ' ' || c == 0x7f {
			if c == '\r' {
				return errors.New("carriage return (CRLF line ending)")
			}
			return errors.New("control character")
		}
	}
	key, value, ok := strings.Cut(line, ": ")
	if !ok {
		return errors.New(`line is not "Key: value"`)
	}
	if !validKey(key) {
		return errors.New("key is not [A-Za-z]+")
	}
	if strings.HasPrefix(value, " ") {
		return fmt.Errorf("%s: more than one space after colon", key)
	}
	if value == "" && key != "References" {
		return fmt.Errorf("%s: empty value", key)
	}

	switch key {
	case "URL", "Compression", "FileHash", "FileSize":
		return p.parseFileField(key, value)
	case "Sig":
		if _, err := signature.ParseSignature(value); err != nil {
			return errors.New("Sig: not <key name>:<base64 of 64 bytes>")
		}
		if i, dup := p.sigs[value]; dup {
			return fmt.Errorf("Sig: repeats signature %d", i+1)
		}
		p.sigs[value] = len(p.n.Sigs)
		p.n.Sigs = append(p.n.Sigs, value)
		return nil
	case "StorePath", "NarHash", "NarSize", "References", "Deriver", "System", "CA", "Signature":
		if p.seen[key] {
			return fmt.Errorf("duplicate key %s", key)
		}
		p.seen[key] = true
		return p.parseSingle(key, value)
	default:
		return nil
	}
}

func validKey(key string) bool {
	if key == "" {
		return false
	}
	for i := range len(key) {
		if c := key[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func (p *parser) parseSingle(key, value string) error {
	n := p.n
	var err error
	switch key {
	case "StorePath":
		n.StorePath = value
		n.Hash, n.Name, err = ParseStorePath(p.storeDir, value)
	case "NarHash":
		n.NarHash, err = parseSHA256(value)
	case "NarSize":
		n.NarSize, err = parseSize(value)
		if err == nil && n.NarSize == 0 {
			return errors.New("NarSize must be > 0")
		}
	case "References":
		if value != "" {
			n.References = strings.Split(value, " ")
		}
		err = checkReferences(n.References)
	case "Deriver":
		err = parseDeriver(value)
		if err == nil && value != unknownDeriver {
			n.Deriver = value
		}
	case "System":
		n.System = value
	case "CA":
		n.CA = value
		err = parseCA(value)
	case "Signature":
		n.GuixSignature = value
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// checkReferences checks that each reference is a store path base name
// and that none is listed twice.
//
// A repeated reference is refused rather than stored deduplicated: the
// uploaded text is stored and served byte for byte (Guix signs the text),
// so it cannot be cleaned up, and Nix never writes one, so a narinfo with
// one was made by a broken tool. The same goes for a repeated Sig.
func checkReferences(refs []string) error {
	seen := make(map[string]int, len(refs))
	for i, ref := range refs {
		if _, _, err := ParseBaseName(ref); err != nil {
			return err
		}
		if j, dup := seen[ref]; dup {
			return fmt.Errorf("reference %d repeats reference %d", i+1, j+1)
		}
		seen[ref] = i
	}
	return nil
}

func parseDeriver(value string) error {
	if value == unknownDeriver {
		return nil
	}
	if _, _, err := ParseBaseName(value); err != nil {
		return err
	}
	if !strings.HasSuffix(value, ".drv") {
		return errors.New("does not end in .drv")
	}
	return nil
}

// parseFileField handles the keys of a URL group: URL starts a new group,
// and each of Compression, FileHash, FileSize may appear once in it.
func (p *parser) parseFileField(key, value string) error {
	if key == "URL" {
		if strings.Contains(value, " ") {
			return errors.New("URL: contains a space")
		}
		p.seen["URL"] = true
		p.inGroup = map[string]bool{}
		p.n.Files = append(p.n.Files, File{URL: value})
		return nil
	}
	if !p.seen["URL"] {
		return fmt.Errorf("%s before URL", key)
	}
	if p.inGroup[key] {
		return fmt.Errorf("duplicate key %s for the same URL", key)
	}
	p.inGroup[key] = true

	f := &p.n.Files[len(p.n.Files)-1]
	var err error
	switch key {
	case "Compression":
		f.Compression = value
	case "FileHash":
		f.FileHash, err = parseSHA256(value)
	case "FileSize":
		f.FileSize, err = parseSize(value)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// parseSHA256 accepts a sha256 hash as Nix writes hashes with their type,
// "sha256:" followed by nixbase32, base16 or base64, or in the SRI form
// "sha256-<base64>", and returns it as "sha256:<nixbase32>".
func parseSHA256(s string) (string, error) {
	if !strings.HasPrefix(s, "sha256:") && !strings.HasPrefix(s, "sha256-") {
		return "", errors.New(`hash does not start with "sha256:"`)
	}
	h, err := nixhash.ParseAny(s, nil)
	// ParseAny picks the encoding by length alone: 44 base64 characters
	// without "=" padding decode to 33 bytes, which it does not reject.
	if err != nil || len(h.Digest()) != sha256.Size {
		return "", errors.New("invalid sha256 hash")
	}
	return h.Format(nixhash.NixBase32, true), nil
}

// parseSize parses a size as Nix writes it: decimal digits, no sign, no
// leading zeros.
func parseSize(s string) (uint64, error) {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a decimal number")
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, errors.New("leading zero")
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New("too large")
	}
	return v, nil
}
