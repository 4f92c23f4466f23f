package pgcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Supported server versions: 15 brings the publication column lists narthex
// replicates with; 17 is the newest it has been run against.
const (
	MinVersion = 15
	MaxVersion = 17
)

// ErrNotInstalled means no PostgreSQL server binaries (initdb and postgres)
// of a supported version were found.
var ErrNotInstalled = errors.New("postgresql server binaries not found")

// versionProbeTimeout bounds "postgres --version".
const versionProbeTimeout = 10 * time.Second

// SearchDirs lists, in order, where FindBinDir looks for initdb and postgres
// when it is not told: the folder of the postgres on PATH (symlinks
// resolved, so that it is the installation's own folder, where initdb sits
// too), the folder `pg_config --bindir` names, then Debian's and Ubuntu's
// /usr/lib/postgresql/<version>/bin, newest first.
func SearchDirs() []string {
	var dirs []string
	if path, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(path); err == nil {
			path = real
		}
		dirs = append(dirs, filepath.Dir(path))
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); dir != "" {
			dirs = append(dirs, dir)
		}
	}
	for v := MaxVersion; v >= MinVersion; v-- {
		dirs = append(dirs, fmt.Sprintf("/usr/lib/postgresql/%d/bin", v))
	}
	return dirs
}

// FindBinDir returns the folder holding initdb and postgres of a supported
// version: dir when it is set (an error if it does not qualify), else the
// first of SearchDirs that qualifies. Without one the error wraps
// ErrNotInstalled and names the package to install.
func FindBinDir(dir string) (string, error) {
	if dir != "" {
		return checkBinDir(dir)
	}
	return searchBinDir(SearchDirs())
}

func searchBinDir(dirs []string) (string, error) {
	var tried []string
	for _, d := range dirs {
		found, err := checkBinDir(d)
		if err == nil {
			return found, nil
		}
		if !errors.Is(err, ErrNotInstalled) {
			// Present but unusable (such as PostgreSQL 14): worth saying.
			tried = append(tried, err.Error())
		}
	}
	note := ""
	if len(tried) > 0 {
		note = " (" + strings.Join(tried, "; ") + ")"
	}
	return "", fmt.Errorf("%w: PostgreSQL %d to %d is needed, looked on PATH, in `pg_config --bindir` and in /usr/lib/postgresql/<version>/bin%s; install it with `apt-get install %s`",
		ErrNotInstalled, MinVersion, MaxVersion, note, ServerPackage())
}

// checkBinDir checks that dir holds initdb and postgres, and that postgres
// is of a supported version.
func checkBinDir(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("bin dir: %w", err)
	}
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := exec.LookPath(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("%w: no %s in %s; install PostgreSQL with `apt-get install %s`",
				ErrNotInstalled, name, dir, ServerPackage())
		}
	}
	v, err := serverVersion(filepath.Join(dir, "postgres"))
	if err != nil {
		return "", err
	}
	if v < MinVersion || v > MaxVersion {
		return "", fmt.Errorf("%s is PostgreSQL %d; narthex needs %d to %d", dir, v, MinVersion, MaxVersion)
	}
	return dir, nil
}

// versionLine matches the output of postgres --version, such as
// "postgres (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)".
var versionLine = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

func serverVersion(postgres string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), versionProbeTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, postgres, "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("%s --version: %w", postgres, err)
	}
	m := versionLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("%s --version: unexpected output %q", postgres, strings.TrimSpace(string(out)))
	}
	return strconv.Atoi(string(m[1]))
}

// ServerPackage names the Debian or Ubuntu package of a supported PostgreSQL
// server for this machine's release (from /etc/os-release): postgresql-15 on
// Debian 12, postgresql-17 on Debian 13, postgresql-16 on Ubuntu 24.04, and
// the distribution's default, postgresql, elsewhere.
func ServerPackage() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return "postgresql"
	}
	defer f.Close()
	release := map[string]string{}
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			release[k] = strings.Trim(v, `"'`)
		}
	}
	switch release["ID"] + " " + release["VERSION_ID"] {
	case "debian 12":
		return "postgresql-15"
	case "debian 13":
		return "postgresql-17"
	case "ubuntu 24.04":
		return "postgresql-16"
	}
	return "postgresql"
}
