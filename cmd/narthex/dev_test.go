package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/pgcluster"
)

// privateDir returns a new folder of mode 0700, as root's home and mktemp -d
// folders are: run as root, the postgres user cannot enter it.
func privateDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "narthex-private-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The cluster of a root run lives where its link points.
		if target, err := os.Readlink(filepath.Join(d, "state", "postgres")); err == nil {
			os.RemoveAll(target)
		}
		os.RemoveAll(d)
	})
	return d
}

func TestDev_MissingPostgres(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(tempDir(t), "state")
	port := freePorts(t, 1)
	out, errOut, code := narthex(t, "dev", "--dir", dir, "--edges", "0", "--port", fmt.Sprint(port), "--pg-bin", t.TempDir())
	if code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") > 0 ||
		!strings.Contains(errOut, "apt-get install "+pgcluster.ServerPackage()) || !strings.Contains(errOut, "--pg-bin") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and one line naming --pg-bin and the package %s", code, errOut, pgcluster.ServerPackage())
	}
	if strings.Contains(out, "ready") {
		t.Errorf("output %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "postgres")); !os.IsNotExist(err) {
		t.Errorf("a cluster folder was made without PostgreSQL: %v", err)
	}
}

// lineWith returns the first line of p's standard output starting with
// prefix.
func (p *proc) lineWith(prefix string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.stdout {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestDev_PrivateFolder runs narthex dev in a folder the postgres user
// cannot enter, checks the database URL it prints and writes, that a
// second narthex dev on the folder is refused at once naming the first,
// that a restart keeps PostgreSQL's port, and that narthex dev stops with
// an error when its PostgreSQL dies.
func TestDev_PrivateFolder(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(privateDir(t), "state")
	port := freePorts(t, 2)
	args := []string{"dev", "--dir", dir, "--edges", "1", "--port", fmt.Sprint(port)}
	dev := startNarthex(t, args...)
	dev.waitLine(t, "ready", 3*time.Minute)

	urlFile := filepath.Join(dir, "database-url")
	b, err := os.ReadFile(urlFile)
	if err != nil {
		t.Fatal(err)
	}
	url := strings.TrimSpace(string(b))
	if line := dev.lineWith("database "); !strings.HasPrefix(line, "database "+url+" ") || !strings.Contains(line, urlFile) {
		t.Errorf("printed %q, want the URL %s and the file %s", line, url, urlFile)
	}
	out, _, code := narthex(t, "migrate", "--database-url", url)
	if code != 0 || out != "schema up to date\n" {
		t.Errorf("narthex migrate on the printed URL: exit %d, %q", code, out)
	}
	// The dashboard it prints answers, with the edge it runs.
	dash := fmt.Sprintf("http://127.0.0.1:%d/dashboard", port)
	if line := dev.lineWith("dashboard "); line != "dashboard "+dash {
		t.Errorf("printed %q, want dashboard %s", line, dash)
	}
	testutil.Eventually(t, "the dashboard listing edge dev1", time.Minute, func() bool {
		resp, err := http.Get(dash)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.Contains(string(body), `data-edge="dev1"`)
	})

	// A second narthex dev on the folder, the same command again, is
	// refused for the folder (rather than for the busy ports, or after
	// waiting for PostgreSQL's lock), naming the first.
	_, errOut, code := narthex(t, args...)
	want := fmt.Sprintf("%s is in use by another narthex dev (pid %d)", dir, dev.cmd.Process.Pid)
	if code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("second narthex dev: exit %d, stderr:\n%s\nwant exit 1 and %q", code, errOut, want)
	}

	// A restart keeps the port, and so the URL.
	dev.stop(t)
	if !dev.cmd.ProcessState.Success() {
		t.Fatalf("narthex dev exited with %v after SIGINT:\n%s", dev.cmd.ProcessState, dev.logs())
	}
	if err := os.Remove(urlFile); err != nil {
		t.Fatal(err)
	}
	dev = startNarthex(t, args...)
	dev.waitLine(t, "ready", 3*time.Minute)
	if b, err := os.ReadFile(urlFile); err != nil || strings.TrimSpace(string(b)) != url {
		t.Errorf("database-url after restart = %q, %v; want %q", b, err, url)
	}

	// PostgreSQL dies: narthex dev stops with an error saying so.
	pidFile, err := os.ReadFile(filepath.Join(dir, "postgres", "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(pidFile), "\n")
	pid, err := strconv.Atoi(first)
	if err != nil {
		t.Fatalf("postmaster.pid: %q", pidFile)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dev.exited:
	case <-time.After(time.Minute):
		t.Fatalf("narthex dev still runs a minute after its PostgreSQL died:\n%s", dev.logs())
	}
	if code := dev.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(dev.logs(), "narthex dev: PostgreSQL stopped under narthex dev: postgres exited unexpectedly") {
		t.Errorf("narthex dev exited %d after its PostgreSQL died; stderr:\n%s", code, dev.logs())
	}
}

// TestDev_InterruptedSetUp interrupts the first narthex dev on a folder
// while it sets PostgreSQL up: it stops quietly, without initdb's output,
// and the next run on the folder starts.
func TestDev_InterruptedSetUp(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(tempDir(t), "state")
	port := freePorts(t, 1)
	args := []string{"dev", "--dir", dir, "--edges", "0", "--port", fmt.Sprint(port)}
	dev := startNarthex(t, args...)
	dev.waitLine(t, "narthex dev: state in "+dir, time.Minute)
	dev.stop(t)
	if code := dev.cmd.ProcessState.ExitCode(); code != 0 || strings.Contains(dev.logs(), "FATAL") || strings.Contains(dev.logs(), "initdb:") || strings.Contains(dev.logs(), "level=ERROR") {
		t.Errorf("interrupted narthex dev exited %d; stderr:\n%s\nwant exit 0 and no initdb output or error", code, dev.logs())
	}
	dev = startNarthex(t, args...)
	dev.waitLine(t, "ready", 3*time.Minute)
}
