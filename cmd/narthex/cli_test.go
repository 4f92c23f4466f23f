package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/pgtest"
)

func TestParseInterspersed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		wantPos []string
		wantA   string
		wantB   bool
	}{
		{nil, nil, "", false},
		{[]string{"x", "y"}, []string{"x", "y"}, "", false},
		{[]string{"-a", "1", "x"}, []string{"x"}, "1", false},
		{[]string{"x", "--a", "1", "y", "-b"}, []string{"x", "y"}, "1", true},
		{[]string{"x", "y", "--a=2"}, []string{"x", "y"}, "2", false},
		{[]string{"x", "--", "-b", "--a", "3"}, []string{"x", "-b", "--a", "3"}, "", false},
		{[]string{"--", "x"}, []string{"x"}, "", false},
		{[]string{"-b", "-"}, []string{"-"}, "", true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			a := fs.String("a", "", "")
			b := fs.Bool("b", false, "")
			pos, err := parseInterspersed(fs, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pos, tt.wantPos) || *a != tt.wantA || *b != tt.wantB {
				t.Errorf("got %q, a=%q, b=%v; want %q, a=%q, b=%v", pos, *a, *b, tt.wantPos, tt.wantA, tt.wantB)
			}
		})
	}
}

func TestFlags_Parse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" for none; "help" for flag.ErrHelp
	}{
		{"both args, flag last", []string{"create", "ci", "--database-url", "u"}, ""},
		{"flag first", []string{"--database-url", "u", "create", "ci"}, ""},
		{"flag between", []string{"create", "--database-url", "u", "ci"}, ""},
		{"help after name", []string{"create", "--help", "--database-url", "u"}, "help"},
		{"short help", []string{"-h"}, "help"},
		{"missing name", []string{"create"}, "missing NAME"},
		{"missing both", nil, "missing ACTION"},
		{"extra", []string{"create", "ci", "more"}, `unexpected argument "more"`},
		{"unknown flag", []string{"create", "ci", "--bogus"}, "-bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlags("test", "A test command.")
			f.SetOutput(&bytes.Buffer{})
			action, name := f.arg("ACTION"), f.arg("NAME")
			url := f.String("database-url", "", "")
			var err error
			if tt.wantErr == "help" {
				// Usage goes to standard output; keep it out of the test log.
				stdout := os.Stdout
				os.Stdout, _ = os.Open(os.DevNull)
				err = f.parse(tt.args)
				os.Stdout.Close()
				os.Stdout = stdout
			} else {
				err = f.parse(tt.args)
			}
			switch {
			case tt.wantErr == "help":
				if !errors.Is(err, flag.ErrHelp) {
					t.Fatalf("parse = %v, want flag.ErrHelp", err)
				}
			case tt.wantErr == "":
				if err != nil || *action != "create" || *name != "ci" || *url != "u" {
					t.Fatalf("parse = %v; action %q, name %q, url %q", err, *action, *name, *url)
				}
			case err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n"):
				t.Fatalf("parse = %v, want one line naming %s", err, tt.wantErr)
			}
		})
	}
}

// narthex runs the narthex command line args to its end and returns its
// output and exit status.
func narthex(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), "NARTHEX_TEST_AS_MAIN=1")
	cmd.WaitDelay = time.Minute
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("narthex %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func TestHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string // the start of standard output
	}{
		{[]string{"help"}, "narthex — "},
		{[]string{"-h"}, "narthex — "},
		{[]string{"--help"}, "narthex — "},
		{[]string{"help", "dev"}, "Usage: narthex dev [flags]"},
		{[]string{"dev", "-h"}, "Usage: narthex dev [flags]"},
		{[]string{"dev", "--help"}, "Usage: narthex dev [flags]"},
		{[]string{"help", "origin"}, "Usage: narthex origin [flags]"},
		{[]string{"edge", "-h"}, "Usage: narthex edge [flags]"},
		{[]string{"help", "migrate"}, "Usage: narthex migrate [flags]"},
		{[]string{"edges", "list", "-h"}, "Usage: narthex edges list [flags]"},
		{[]string{"help", "geodns"}, "Usage: narthex geodns [flags]"},
		{[]string{"help", "token"}, "Usage: narthex token create|revoke NAME [flags]"},
		{[]string{"token", "create", "-h"}, "Usage: narthex token create|revoke NAME [flags]"},
		{[]string{"help", "loadtest", "lag"}, "Usage: narthex loadtest lag [flags]"},
		{[]string{"loadtest", "populate", "--help"}, "Usage: narthex loadtest populate [flags]"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			out, errOut, code := narthex(t, tt.args...)
			if code != 0 || !strings.HasPrefix(out, tt.want) {
				t.Errorf("exit %d, output:\n%s\nstderr:\n%s\nwant exit 0 and output starting %q", code, out, errOut, tt.want)
			}
		})
	}
}

func TestBadCommandLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args     []string
		wantCode int
		want     string // in the one line of standard error
	}{
		{[]string{"help", "nonsense"}, 2, `unknown command "nonsense"`},
		{[]string{"dev", "extra"}, 1, `unexpected argument "extra"`},
		{[]string{"dev", "--bogus"}, 1, "flag provided but not defined: -bogus"},
		{[]string{"dev", "--edges", "-1"}, 1, "--edges"},
		{[]string{"dev", "--postgres-port", "70000"}, 1, "--postgres-port"},
		{[]string{"migrate", "now", "--database-url", "postgres://127.0.0.1:1/x"}, 1, `unexpected argument "now"`},
		{[]string{"token", "create", "--database-url", "postgres://127.0.0.1:1/x"}, 1, "missing NAME"},
		{[]string{"token", "delete", "ci", "--database-url", "postgres://127.0.0.1:1/x"}, 1, `unknown action "delete"`},
		{[]string{"token", "create", "Bad Name!", "--database-url", "postgres://127.0.0.1:1/x"}, 1, `token name "Bad Name!"`},
		{[]string{"token", "create", "ci"}, 1, "--database-url or --database-url-file is required"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			out, errOut, code := narthex(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, errOut, tt.wantCode, tt.want)
			}
			if tt.wantCode == 1 && strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
				t.Errorf("stderr is not one line:\n%s", errOut)
			}
			if out != "" {
				t.Errorf("standard output %q, want none", out)
			}
		})
	}
}

// TestToken creates and revokes tokens through the command line, flags
// before and after the name, and checks that help and bad names change
// nothing.
func TestToken(t *testing.T) {
	t.Parallel()
	db := pgtest.NewOriginDatabase(t)
	conn := pgtest.Connect(t, db)
	names := func() []string {
		rows, err := conn.Query(t.Context(), "SELECT name || CASE WHEN revoked_at IS NULL THEN '' ELSE ' (revoked)' END FROM upload_token ORDER BY name")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	steps := []struct {
		args      []string
		wantCode  int
		wantOut   string // prefix of stdout
		wantNames []string
	}{
		{[]string{"token", "create", "--help", "--database-url", db}, 0, "Usage: narthex token", nil},
		{[]string{"token", "create", "Bad Name!", "--database-url", db}, 1, "", nil},
		{[]string{"token", "create", "ci", "--database-url", db}, 0, "narthex_", []string{"ci"}},
		{[]string{"token", "--database-url", db, "create", "farm.eu-1"}, 0, "narthex_", []string{"ci", "farm.eu-1"}},
		{[]string{"token", "create", "ci", "--database-url", db}, 1, "", []string{"ci", "farm.eu-1"}},
		{[]string{"token", "revoke", "--database-url", db, "ci"}, 0, "", []string{"ci (revoked)", "farm.eu-1"}},
		{[]string{"token", "revoke", "ci", "--database-url", db}, 1, "", []string{"ci (revoked)", "farm.eu-1"}},
		{[]string{"token", "revoke", "nobody", "--database-url", db}, 1, "", []string{"ci (revoked)", "farm.eu-1"}},
	}
	for _, s := range steps {
		out, errOut, code := narthex(t, s.args...)
		if code != s.wantCode || !strings.HasPrefix(out, s.wantOut) {
			t.Errorf("narthex %q: exit %d, output %q, stderr %q; want exit %d, output starting %q", s.args, code, out, errOut, s.wantCode, s.wantOut)
		}
		if got := names(); !slices.Equal(got, s.wantNames) {
			t.Errorf("after narthex %q: tokens %q, want %q", s.args, got, s.wantNames)
		}
	}
}
