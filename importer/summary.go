package importer

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Summary is what an import did.
type Summary struct {
	Source string `json:"source"`
	// Imported counts the paths uploaded (or, with NoPayload, recorded
	// and their narinfos uploaded).
	Imported int `json:"imported"`
	// AlreadyPresent counts the paths asked for, or reached as
	// references, that the origin already had; their closures, which it
	// has too, were not walked.
	AlreadyPresent int `json:"already_present"`
	// Refused lists the paths not imported, each with its reason, in
	// the order they were refused.
	Refused []Refused `json:"refused"`
	// Files and Bytes count the NAR files uploaded (or recorded).
	Files int   `json:"nar_files"`
	Bytes int64 `json:"bytes"`
	// Store names the http store the source's files were recorded in
	// (NoPayload); "" otherwise.
	Store string `json:"store,omitempty"`
}

// Refused is a path that was not imported.
type Refused struct {
	StorePath string `json:"store_path"`
	Reason    string `json:"reason"`
}

// WriteTable writes the summary as a small table, with the refused paths
// and their reasons below it.
func (s *Summary) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "imported\t%d\n", s.Imported)
	fmt.Fprintf(tw, "already present\t%d\n", s.AlreadyPresent)
	fmt.Fprintf(tw, "refused\t%d\n", len(s.Refused))
	what := "NAR files uploaded"
	if s.Store != "" {
		what = "NAR files recorded in store " + s.Store
	}
	fmt.Fprintf(tw, "%s\t%d (%d bytes)\n", what, s.Files, s.Bytes)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range s.Refused {
		if _, err := fmt.Fprintf(w, "refused %s: %s\n", r.StorePath, r.Reason); err != nil {
			return err
		}
	}
	return nil
}
