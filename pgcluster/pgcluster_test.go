package pgcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/narthex-cache/narthex/internal/testutil"
)

// requireBinaries skips the test on a machine without PostgreSQL, except in
// CI, where the test fails.
func requireBinaries(t *testing.T) {
	t.Helper()
	if _, err := FindBinDir(""); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is required in CI: %v", err)
		}
		t.Skipf("skipping off CI: %v", err)
	}
}

// clusterDir returns a new folder for a cluster, removed after the test. It
// lies directly in os.TempDir() rather than in t.TempDir(), whose parent is
// private to this user: when tests run as root the server runs as the
// postgres user, who must be able to pass through every parent.
func clusterDir(t *testing.T) string {
	t.Helper()
	requireBinaries(t)
	dir, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startCluster starts a cluster that is stopped after the test.
func startCluster(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	c, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return c
}

// query runs sql on a new connection to connString and returns the first
// column of its single row as text.
func query(t *testing.T, connString, sql string) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), connString)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	var v string
	if err := conn.QueryRow(t.Context(), sql).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func exec1(t *testing.T, connString, sql string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), connString)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestCluster_StopStart(t *testing.T) {
	dir := clusterDir(t)
	cfg := Config{Dir: dir, Settings: map[string]string{"max_connections": "50"}}
	c := startCluster(t, cfg)
	if err := c.CreateDatabase(t.Context(), "narthex"); err != nil {
		t.Fatal(err)
	}
	exec1(t, c.ConnString("narthex"), "CREATE TABLE kv (k text PRIMARY KEY, v text); INSERT INTO kv VALUES ('greeting', 'hello')")

	for range 2 {
		if err := c.Stop(); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	}
	if c.Running() {
		t.Fatal("Running() = true after Stop")
	}

	cfg.Port = c.Port()
	c = startCluster(t, cfg)
	if got := query(t, c.ConnString("narthex"), "SELECT v FROM kv WHERE k = 'greeting'"); got != "hello" {
		t.Errorf("row after restart = %q, want hello", got)
	}
	for setting, want := range map[string]string{
		"wal_level":        "logical",
		"max_connections":  "50",
		"listen_addresses": "127.0.0.1",
		"port":             strconv.Itoa(cfg.Port),
	} {
		if got := query(t, c.ConnString("postgres"), "SHOW "+setting); got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}
}

func TestCluster_Restart(t *testing.T) {
	c := startCluster(t, Config{Dir: clusterDir(t)})
	exec1(t, c.ConnString("postgres"), "CREATE TABLE kv (k text); INSERT INTO kv VALUES ('kept')")
	port := c.Port()
	if err := c.Restart(t.Context()); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if !c.Running() || c.Port() != port {
		t.Fatalf("after Restart: Running() = %v, Port() = %d, want true, %d", c.Running(), c.Port(), port)
	}
	if got := query(t, c.ConnString("postgres"), "SELECT k FROM kv"); got != "kept" {
		t.Errorf("row after Restart = %q, want kept", got)
	}
}

func TestStart_BusyPort(t *testing.T) {
	dir := clusterDir(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	c, err := Start(t.Context(), Config{Dir: dir, Port: l.Addr().(*net.TCPAddr).Port})
	if err == nil {
		c.Stop()
		t.Fatal("Start on a busy port succeeded")
	}
	logPath := filepath.Join(dir, "postgres.log")
	if !strings.Contains(err.Error(), logPath) {
		t.Errorf("error does not name the log %s: %v", logPath, err)
	}
	if !strings.Contains(err.Error(), "Address already in use") {
		t.Errorf("error does not quote the log: %v", err)
	}
}

// TestStart_AfterCrash kills the postmaster and hands its pid file the pid
// of another live server, as happens when a pid is reused after a crash.
func TestStart_AfterCrash(t *testing.T) {
	other := startCluster(t, Config{Dir: clusterDir(t)})
	dir := clusterDir(t)
	c := startCluster(t, Config{Dir: dir})
	exec1(t, c.ConnString("postgres"), "CREATE TABLE kv (k text); INSERT INTO kv VALUES ('committed')")

	c.mu.Lock()
	p := c.proc
	c.mu.Unlock()
	p.stopping.Store(true)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	waitLeft(t, filepath.Join(dir, "data"))
	pidFile := filepath.Join(dir, "data", "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("no pid file left by the crash: %v", err)
	}
	_, rest, _ := strings.Cut(string(b), "\n")
	other.mu.Lock()
	otherPID := other.proc.pid()
	other.mu.Unlock()
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(otherPID)+"\n"+rest), 0o600); err != nil {
		t.Fatal(err)
	}

	if err := c.Restart(t.Context()); err != nil {
		t.Fatalf("Restart after crash: %v", err)
	}
	if got := query(t, c.ConnString("postgres"), "SELECT k FROM kv"); got != "committed" {
		t.Errorf("row after crash = %q, want committed", got)
	}
	if !other.Running() {
		t.Error("the other cluster stopped")
	}
}

// waitLeft waits until no process runs in dir, as the children of a killed
// postmaster do until they notice its death.
func waitLeft(t *testing.T, dir string) {
	t.Helper()
	testutil.Eventually(t, "every process of the cluster in "+dir+" to end", time.Minute, func() bool {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if pid, err := strconv.Atoi(e.Name()); err == nil && servesDir(pid, dir) {
				return false
			}
		}
		return true
	})
}

// helperDirEnv, when set, makes TestStart_ParentDeath start a cluster in the
// folder it names, print the postmaster's pid and wait to be killed.
const helperDirEnv = "PGCLUSTER_TEST_HELPER_DIR"

func TestStart_ParentDeath(t *testing.T) {
	if dir := os.Getenv(helperDirEnv); dir != "" {
		c, err := Start(context.Background(), Config{Dir: dir})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		c.mu.Lock()
		fmt.Println("postmaster", c.proc.pid())
		c.mu.Unlock()
		time.Sleep(time.Minute) // the test kills this process long before
		os.Exit(1)
	}

	dir := clusterDir(t)
	helper := exec.Command(os.Args[0], "-test.run=^TestStart_ParentDeath$")
	helper.Env = append(os.Environ(), helperDirEnv+"="+dir)
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer helper.Wait()
	defer helper.Process.Kill()

	pid := 0
	for sc := bufio.NewScanner(out); pid == 0 && sc.Scan(); {
		if n, ok := strings.CutPrefix(sc.Text(), "postmaster "); ok {
			pid, _ = strconv.Atoi(n)
		} else {
			t.Logf("helper: %s", sc.Text())
		}
	}
	if pid == 0 {
		t.Fatal("helper did not start a cluster")
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(15 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postmaster %d outlived its killed parent", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The orphaned data directory starts again.
	startCluster(t, Config{Dir: dir})
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	// The state follows the parenthesized command name.
	i := strings.LastIndexByte(string(b), ')')
	return err != nil || i < 0 || !strings.HasPrefix(string(b[i:]), ") Z")
}
