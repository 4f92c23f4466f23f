package pgcluster

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// logTailBytes bounds how much of the server log an error quotes.
const logTailBytes = 4096

// openLog opens the server log for appending and returns its size, from
// which the new server's own lines start.
func openLog(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("open server log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("open server log: %w", err)
	}
	return f, fi.Size(), nil
}

// logSince returns the last lines written to the log at path after offset,
// at most logTailBytes of them, indented for an error message.
func logSince(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	start := max(offset, fi.Size()-logTailBytes)
	b, err := io.ReadAll(io.NewSectionReader(f, start, fi.Size()-start))
	if err != nil {
		return ""
	}
	if start > offset {
		// Drop the line cut in half.
		if _, rest, ok := bytes.Cut(b, []byte("\n")); ok {
			b = rest
		}
	}
	return indent(b)
}

// indent prefixes every line of b with two spaces.
func indent(b []byte) string {
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 {
		return ""
	}
	return "  " + string(bytes.ReplaceAll(b, []byte("\n"), []byte("\n  ")))
}
