package narinfo

import (
	"slices"
	"strconv"
	"strings"
)

// Fingerprint is the message Nix signs: 1;<StorePath>;<NarHash as sha256:nixbase32>;<NarSize>;<full reference paths under storeDir, SORTED, comma-joined>
//
// References written in any order give the same fingerprint; no references
// leave a trailing ";". A NarHash in another sha256 encoding (base16, base64)
// is converted to nixbase32 first, since that is the form Nix signs.
func (n *NarInfo) Fingerprint(storeDir string) string {
	narHash := n.NarHash
	if h, err := parseSHA256(narHash); err == nil {
		narHash = h
	}
	refs := make([]string, len(n.References))
	for i, ref := range n.References {
		refs[i] = storeDir + "/" + ref
	}
	slices.Sort(refs)
	return "1;" + n.StorePath + ";" + narHash + ";" + strconv.FormatUint(n.NarSize, 10) + ";" + strings.Join(refs, ",")
}
