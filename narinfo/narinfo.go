package narinfo

// File is one URL group of a narinfo: where one encoding of the NAR lives.
type File struct {
	URL         string // as written
	Compression string // as written; "" when absent
	FileHash    string // normalized "sha256:<nixbase32>"; "" when absent
	FileSize    uint64 // 0 when absent
}

// NarInfo is the content of a narinfo. Parse fills it from text and
// validates it; Render writes it back in Nix's form.
type NarInfo struct {
	StorePath     string
	Hash, Name    string // the parts of StorePath
	Files         []File // one per URL group, in order (Nix: one; Guix: may repeat URL/Compression/FileSize groups)
	NarHash       string // normalized "sha256:<nixbase32>"
	NarSize       uint64
	References    []string // base names "<hash>-<name>", as written
	Deriver       string   // base name, "" when absent
	System        string
	CA            string
	Sigs          []string // values of "Sig:" lines, in order ("name:base64")
	GuixSignature string   // value of a Guix "Signature:" line, "" when absent
}
