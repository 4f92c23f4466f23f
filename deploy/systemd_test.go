package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/narthex-cache/narthex/internal/testutil"
)

// installedBinary is where the units expect narthex.
const installedBinary = "/usr/local/bin/narthex"

// TestSystemdUnits_Verify runs systemd-analyze verify on every unit of
// systemd/, each copied with its ExecStart pointed at a narthex built
// for the test (verify insists that the program exists), and fails on
// anything it reports: a misspelt or misplaced setting is only a warning
// to systemd, which then ignores it. Each service's command line must also
// be one the binary takes, and its sandbox must stay tight.
func TestSystemdUnits_Verify(t *testing.T) {
	analyze := testutil.Tool(t, "systemd-analyze")
	bin := buildNarthex(t)
	units, err := filepath.Glob("systemd/*.service")
	if err != nil {
		t.Fatal(err)
	}
	timers, _ := filepath.Glob("systemd/*.timer")
	units = append(units, timers...)
	if len(units) < 6 {
		t.Fatalf("found %d units in systemd/, want the origin, edge, maintenance and gc ones", len(units))
	}
	dir := t.TempDir()
	var args []string
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(u, ".service") && !bytes.Contains(b, []byte("ExecStart="+installedBinary+" ")) {
			t.Errorf("%s: ExecStart does not run %s", u, installedBinary)
		}
		p := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(p, bytes.ReplaceAll(b, []byte(installedBinary), []byte(bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	cmd := exec.CommandContext(t.Context(), analyze, append([]string{"verify"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	checkCommands(t, bin, units)

	// The services' sandboxes, scored by systemd's own measure of what a
	// compromised service could reach: 0 is none, 10 everything; a unit
	// that loses its hardening scores above the bound.
	services := slices.DeleteFunc(slices.Clone(args), func(p string) bool { return !strings.HasSuffix(p, ".service") })
	cmd = exec.CommandContext(t.Context(), analyze, append([]string{"security", "--offline=true", "--threshold=" + maxExposure}, services...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-analyze security --threshold=%s: %v\n%s", maxExposure, err, out)
	}
}

// maxExposure bounds the services' exposure level (systemd-analyze
// security, in tenths): 2.5 of 10. Each unit scores 2.0 or less.
const maxExposure = "25"

// checkCommands checks that each service runs a command the binary has,
// with flags it has: a unit naming a command that is gone passes verify
// and fails at its first start.
func checkCommands(t *testing.T, bin string, units []string) {
	t.Helper()
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			rest, ok := strings.CutPrefix(line, "ExecStart="+installedBinary+" ")
			if !ok {
				continue
			}
			args := append(strings.Fields(rest), "-h")
			out, err := exec.CommandContext(t.Context(), bin, args...).CombinedOutput()
			if err != nil {
				t.Errorf("%s: narthex %s: %v\n%s", u, strings.Join(args, " "), err, out)
			}
		}
	}
}
