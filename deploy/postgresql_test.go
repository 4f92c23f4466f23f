package deploy

import (
	"bufio"
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/pgcluster"
)

// confLine is a setting of a postgresql.conf file: name = value, the
// value bare or in single quotes, and an optional comment.
var confLine = regexp.MustCompile(`^([a-z_][a-z0-9_.]*)\s*=\s*('[^']*'|[^\s#']+)\s*(#.*)?$`)

// confSettings reads the settings of a postgresql.conf file, failing the
// test on any line that is neither a setting, a comment nor empty.
func confSettings(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := confLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("%s:%d: not a setting: %q", file, n, line)
		}
		if _, dup := settings[m[1]]; dup {
			t.Fatalf("%s:%d: %s set twice", file, n, m[1])
		}
		settings[m[1]] = strings.Trim(m[2], "'")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return settings
}

// startCluster starts a throwaway PostgreSQL with settings, stopped and
// removed when the test ends. Like pgtest, it fails under CI without PostgreSQL and
// skips elsewhere.
func startCluster(t *testing.T, settings map[string]string) *pgcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Config{Dir: t.TempDir(), Settings: settings, BinDir: os.Getenv(pgtest.BinDirEnv)})
	switch {
	case errors.Is(err, pgcluster.ErrNotInstalled) && os.Getenv("CI") == "":
		t.Skipf("skipping off CI: %v", err)
	case err != nil:
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
		// Run as root, the files live outside the test's folder (see
		// pgcluster.Config.ReachableDir).
		if err := os.RemoveAll(c.Dir()); err != nil {
			t.Errorf("remove PostgreSQL's files: %v", err)
		}
	})
	return c
}

// TestPostgreSQLSettings_Load starts a PostgreSQL with every setting of
// postgresql/narthex.conf: a misspelt name or a value out of range stops
// the server from starting. It checks that each took effect, and the
// ones narthex cannot work or keep its promises without.
func TestPostgreSQLSettings_Load(t *testing.T) {
	settings := confSettings(t, "postgresql/narthex.conf")
	for _, name := range []string{"wal_level", "max_replication_slots", "max_wal_senders", "max_slot_wal_keep_size",
		"wal_sender_timeout", "max_connections", "synchronous_commit"} {
		if _, ok := settings[name]; !ok {
			t.Errorf("narthex.conf does not set %s", name)
		}
	}
	c := startCluster(t, settings)
	conn := pgtest.Connect(t, c.ConnString("postgres"))
	for name := range settings {
		var source string
		if err := conn.QueryRow(t.Context(), "SELECT source FROM pg_settings WHERE name = $1", name).Scan(&source); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if source != "command line" {
			t.Errorf("%s comes from %q, not from narthex.conf", name, source)
		}
	}
	for name, want := range map[string]string{"wal_level": "logical", "synchronous_commit": "on", "fsync": "on"} {
		var got string
		if err := conn.QueryRow(t.Context(), "SELECT current_setting($1)", name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
}
