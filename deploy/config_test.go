package deploy

import (
	"bufio"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// exampleFiles are the example settings of each unit, by the command
// whose variables they set.
var exampleFiles = []struct {
	file    string
	command []string
}{
	{"config/origin.env", []string{"origin"}},
	{"config/edge.env", []string{"edge"}},
	{"config/maintain.env", []string{"stores", "maintain"}},
	{"config/gc.env", []string{"gc"}},
}

var (
	anyVariable = regexp.MustCompile(`\$(NARTHEX_[A-Z0-9_]+)`)
	// helpVariable ends the help of a flag: its variable, then its
	// default unless that is the zero value.
	helpVariable = regexp.MustCompile(`\(\$(NARTHEX_[A-Z0-9_]+)\)(?: \(default (.*)\))?$`)
	// fileVariable is a setting of an example file: set, or commented out
	// to show its default.
	fileVariable = regexp.MustCompile(`^(#?)(NARTHEX_[A-Z0-9_]+)=(.*)$`)
)

// commandVariables returns the environment variables narthex's help for
// command names, each with its default ("" for the zero value).
func commandVariables(t *testing.T, bin string, command []string) map[string]string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), bin, append([]string{"help"}, command...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("narthex help %s: %v\n%s", strings.Join(command, " "), err, out)
	}
	vars := map[string]string{}
	for _, m := range anyVariable.FindAllStringSubmatch(string(out), -1) {
		vars[m[1]] = ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		if m := helpVariable.FindStringSubmatch(line); m != nil {
			vars[m[1]] = m[2]
		}
	}
	if len(vars) == 0 {
		t.Fatalf("narthex help %s names no variable", strings.Join(command, " "))
	}
	return vars
}

// sameDefault reports whether an example file's value v shows the default
// d of narthex's help: the same text once unquoted, the same duration, or
// for a default help leaves out (the zero value), a zero value.
func sameDefault(v, d string) bool {
	v, d = strings.Trim(v, `"`), strings.Trim(d, `"`)
	if d == "" {
		return v == "" || v == "0" || v == "false" || v == "0s"
	}
	if v == d {
		return true
	}
	dv, err1 := time.ParseDuration(v)
	dd, err2 := time.ParseDuration(d)
	return err1 == nil && err2 == nil && dv == dd
}

// setting is a variable of an example file.
type setting struct {
	name, value string
	commented   bool // shows the default rather than setting it
	line        int
}

// fileVariables returns the variables an example file sets or shows, and
// reports each one not directly below a comment line saying what it is,
// and each one listed twice.
func fileVariables(t *testing.T, file string) []setting {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vars []setting
	prev := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := fileVariable.FindStringSubmatch(line); m != nil {
			if !strings.HasPrefix(prev, "# ") || fileVariable.MatchString(prev) {
				t.Errorf("%s:%d: %s has no comment line above it", file, n, m[2])
			}
			if slices.ContainsFunc(vars, func(s setting) bool { return s.name == m[2] }) {
				t.Errorf("%s:%d: %s is listed twice", file, n, m[2])
			}
			vars = append(vars, setting{name: m[2], value: m[3], commented: m[1] == "#", line: n})
		} else if strings.HasPrefix(line, "NARTHEX") || strings.HasPrefix(line, "#NARTHEX") {
			t.Errorf("%s:%d: not a NAME=value line: %q", file, n, line)
		}
		prev = line
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vars
}

// TestExampleConfig_NamesEveryVariable holds each example file of config/
// to its command: it must show every variable the command's help names,
// set or commented out with the default the help gives, and none the
// command does not read, which would be silently ignored.
func TestExampleConfig_NamesEveryVariable(t *testing.T) {
	bin := buildNarthex(t)
	for _, ex := range exampleFiles {
		cmd := strings.Join(ex.command, " ")
		want := commandVariables(t, bin, ex.command)
		got := fileVariables(t, ex.file)
		for _, name := range slices.Sorted(maps.Keys(want)) {
			if !slices.ContainsFunc(got, func(s setting) bool { return s.name == name }) {
				t.Errorf("%s lacks %s, a variable of narthex %s", ex.file, name, cmd)
			}
		}
		for _, s := range got {
			def, ok := want[s.name]
			switch {
			case !ok:
				t.Errorf("%s:%d: %s is not a variable narthex %s reads", ex.file, s.line, s.name, cmd)
			case s.commented && !sameDefault(s.value, def):
				t.Errorf("%s:%d: %s shows %s, but narthex %s's default is %q", ex.file, s.line, s.name, s.value, cmd, def)
			}
		}
	}
}
