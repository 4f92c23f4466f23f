package loadtest

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// solo is a section that a run made alone (--stores-only,
// --dashboard-only), with its target rows, to be put in the file the
// other sections of which another run made.
type solo struct {
	number   string // "8"
	heading  string // how the section starts: "## 8. Stores"
	write    func(*bytes.Buffer)
	rows     []string              // its rows of the Targets table
	isTarget func(row string) bool // whether a row of that table is one of its own
}

// line names the run that made the section in the header of the file.
func (s solo) line(f BenchFacts) string {
	return fmt.Sprintf("Section %s and its targets were made by another run, `%s` on %s, and say so.\n", s.number, f.Command, f.Date)
}

// lineRE matches that line, whatever run it names.
func (s solo) lineRE() *regexp.Regexp {
	return regexp.MustCompile(`(?m)^Section ` + regexp.QuoteMeta(s.number) + ` and its targets were made by .*\n`)
}

// writeSolo writes the file of a run that made only section s: previous as
// it was, with the section and its target rows replaced (or added) and a
// line of the header saying which run made them.
func writeSolo(w io.Writer, r *BenchResults, previous []byte, s solo) error {
	f := r.Facts
	var sec bytes.Buffer
	s.write(&sec)
	line := s.line(f)
	if len(previous) == 0 {
		var b bytes.Buffer
		fmt.Fprintf(&b, "# narthex benchmarks\n\nWritten by `narthex loadtest report`.\n%s\n", line)
		writeMachine(&b, f)
		b.WriteString("## Targets\n\n| target | this run | met |\n|---|---|---|\n" + strings.Join(s.rows, "\n") + "\n\n")
		b.Write(sec.Bytes())
		_, err := w.Write(b.Bytes())
		return err
	}
	sections := splitSections(string(previous))
	var b strings.Builder
	placed := false
	for i, part := range sections {
		switch {
		case i == 0:
			part = s.lineRE().ReplaceAllString(part, "")
			if head, rest, ok := strings.Cut(part, "\n\n"); ok && strings.HasPrefix(head, "# ") {
				// The title, then the first paragraph: the line ends it.
				para, after, _ := strings.Cut(rest, "\n\n")
				part = head + "\n\n" + para + "\n" + line + "\n" + after
			}
		case strings.HasPrefix(part, "## Targets\n"):
			part = replaceTargetRows(part, s.rows, s.isTarget)
		case strings.HasPrefix(part, s.heading):
			part, placed = sec.String(), true
		case !placed && (laterSection(part, s.number) || strings.HasPrefix(part, "## Warnings") || strings.HasPrefix(part, "## Setup")):
			part, placed = sec.String()+part, true
		}
		b.WriteString(part)
	}
	if !placed {
		b.Write(sec.Bytes())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// laterSection reports whether part is a numbered section after number.
func laterSection(part, number string) bool {
	var n, m int
	if _, err := fmt.Sscanf(part, "## %d.", &n); err != nil {
		return false
	}
	fmt.Sscan(number, &m)
	return n > m
}

// replaceTargetRows drops the rows of the Targets section that isTarget
// claims and puts rows after the last row of its table.
func replaceTargetRows(section string, rows []string, isTarget func(string) bool) string {
	lines := strings.Split(section, "\n")
	var out []string
	last := -1
	for _, l := range lines {
		if strings.HasPrefix(l, "| ") && isTarget(l) {
			continue
		}
		out = append(out, l)
		if strings.HasPrefix(l, "|") {
			last = len(out) - 1
		}
	}
	if last < 0 {
		return section
	}
	return strings.Join(append(append(append([]string{}, out[:last+1]...), rows...), out[last+1:]...), "\n")
}
