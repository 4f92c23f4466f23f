package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
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
	helpVariable = regexp.MustCompile(`\$(NARTHEX_[A-Z0-9_]+)`)
	// fileVariable is a setting of an example file, set or, commented
	// out, showing its default.
	fileVariable = regexp.MustCompile(`^#?(NARTHEX_[A-Z0-9_]+)=`)
)

// commandVariables returns the environment variables narthex's help for
// command names, sorted.
func commandVariables(t *testing.T, bin string, command []string) []string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), bin, append([]string{"help"}, command...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("narthex help %s: %v\n%s", strings.Join(command, " "), err, out)
	}
	var vars []string
	for _, m := range helpVariable.FindAllStringSubmatch(string(out), -1) {
		vars = append(vars, m[1])
	}
	slices.Sort(vars)
	vars = slices.Compact(vars)
	if len(vars) == 0 {
		t.Fatalf("narthex help %s names no variable", strings.Join(command, " "))
	}
	return vars
}

// fileVariables returns the variables an example file sets or shows, and
// reports each one not directly below a comment line saying what it is,
// and each one listed twice.
func fileVariables(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vars []string
	prev := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := fileVariable.FindStringSubmatch(line); m != nil {
			if !strings.HasPrefix(prev, "# ") || fileVariable.MatchString(prev) {
				t.Errorf("%s:%d: %s has no comment line above it", file, n, m[1])
			}
			if slices.Contains(vars, m[1]) {
				t.Errorf("%s:%d: %s is listed twice", file, n, m[1])
			}
			vars = append(vars, m[1])
		} else if strings.HasPrefix(line, "NARTHEX") || strings.HasPrefix(line, "#NARTHEX") {
			t.Errorf("%s:%d: not a NAME=value line: %q", file, n, line)
		}
		prev = line
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(vars)
	return vars
}

// TestExampleConfig_NamesEveryVariable holds each example file of config/
// to its command: it must show every variable the command's help names
// (set, or commented out with its default), and none the command does not
// read, which would be silently ignored.
func TestExampleConfig_NamesEveryVariable(t *testing.T) {
	bin := buildNarthex(t)
	for _, ex := range exampleFiles {
		want := commandVariables(t, bin, ex.command)
		got := fileVariables(t, ex.file)
		for _, v := range want {
			if !slices.Contains(got, v) {
				t.Errorf("%s lacks %s, a variable of narthex %s", ex.file, v, strings.Join(ex.command, " "))
			}
		}
		for _, v := range got {
			if !slices.Contains(want, v) {
				t.Errorf("%s names %s, which narthex %s does not read", ex.file, v, strings.Join(ex.command, " "))
			}
		}
	}
}
