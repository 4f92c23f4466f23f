package narinfo

import (
	"strconv"
	"strings"
)

// Render writes the canonical Nix form: StorePath URL Compression FileHash FileSize NarHash NarSize References Deriver System Sig* CA
// (Nix order; for several Files, the URL/Compression/FileHash/FileSize group repeats in order).
// Always writes "Compression: none" when a file's Compression is empty; "References: " with trailing space when empty.
//
// Empty optional fields (FileHash, FileSize 0, Deriver, System, CA) are left
// out. GuixSignature is never written: it signs the text a Guix server wrote,
// which Render does not reproduce. Nix reads a missing Compression as bzip2,
// so a parsed narinfo without Compression does not survive Render unchanged:
// serve the text that was received, and use Render for narinfos built here.
func (n *NarInfo) Render() []byte {
	var b strings.Builder
	line := func(key, value string) {
		b.WriteString(key)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteByte('\n')
	}
	line("StorePath", n.StorePath)
	for _, f := range n.Files {
		line("URL", f.URL)
		if f.Compression == "" {
			line("Compression", "none")
		} else {
			line("Compression", f.Compression)
		}
		if f.FileHash != "" {
			line("FileHash", f.FileHash)
		}
		if f.FileSize != 0 {
			line("FileSize", strconv.FormatUint(f.FileSize, 10))
		}
	}
	line("NarHash", n.NarHash)
	line("NarSize", strconv.FormatUint(n.NarSize, 10))
	line("References", strings.Join(n.References, " "))
	if n.Deriver != "" {
		line("Deriver", n.Deriver)
	}
	if n.System != "" {
		line("System", n.System)
	}
	for _, sig := range n.Sigs {
		line("Sig", sig)
	}
	if n.CA != "" {
		line("CA", n.CA)
	}
	return []byte(b.String())
}

// AppendSig returns body with a line "Sig: <sig>\n" added at the end (body always ends in "\n").
// Lines after a Guix Signature: line do not change what Guix verifies, so appending is always safe.
//
// The result is a new slice; body is not modified. A body that does not end
// in "\n" gets one before the new line.
func AppendSig(body []byte, sig string) []byte {
	out := make([]byte, 0, len(body)+len("\nSig: \n")+len(sig))
	out = append(out, body...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	out = append(out, "Sig: "...)
	out = append(out, sig...)
	return append(out, '\n')
}
