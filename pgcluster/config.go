package pgcluster

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
)

// Config says where a cluster lives and how its server runs.
type Config struct {
	// Dir is the cluster folder: data in Dir/data, unix socket in Dir/run,
	// server log in Dir/postgres.log. It is created if missing. Required.
	Dir string
	// Port is the TCP port on 127.0.0.1 (every address of Netns, when set).
	// 0 means the port of the last start
	// on this Dir (kept in Dir/port), or a free port the first time.
	Port int
	// BinDir holds initdb and postgres, of version MinVersion to
	// MaxVersion. Default: the first folder of SearchDirs that does.
	BinDir string
	// ReachableDir is where a process running as root keeps the cluster
	// when the postgres user cannot reach Dir; Dir then becomes a symbolic
	// link to a folder in it. Default: DefaultReachableDir.
	ReachableDir string
	// Settings are extra server settings (postgres -c name=value); they
	// override the defaults (see Start), except the three that keep the
	// server on loopback, which they may not name.
	Settings map[string]string
	// Netns is the network namespace the server runs in, by the name ip
	// netns gives it (a file in /run/netns); empty: this process's own.
	// There the server listens on every address of the namespace, whose
	// maker decides what reaches it, and ConnString reaches it through its
	// unix socket, which no network namespace separates. Needs root.
	Netns string
	// Logger receives start, stop and crash events. Default: discard.
	Logger *slog.Logger
}

// fixedSettings are chosen by pgcluster alone: they keep the server on
// loopback and its socket inside Dir.
var fixedSettings = map[string]bool{
	"listen_addresses":        true,
	"port":                    true,
	"unix_socket_directories": true,
}

// Validate reports the first field that is unusable.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("pgcluster config: Dir is empty")
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("pgcluster config: Port %d is outside 0-65535", c.Port)
	}
	if c.Netns != "" && (c.Netns != filepath.Base(c.Netns) || c.Netns == "." || c.Netns == "..") {
		return fmt.Errorf("pgcluster config: Netns %q is not a namespace name", c.Netns)
	}
	for name := range c.Settings {
		if !validSettingName(name) {
			return fmt.Errorf("pgcluster config: Settings: bad name %q", name)
		}
		if fixedSettings[strings.ToLower(name)] {
			return fmt.Errorf("pgcluster config: Settings: %s is fixed by pgcluster", name)
		}
	}
	return nil
}

// validSettingName accepts PostgreSQL parameter names, including
// extension-qualified ones such as auto_explain.log_min_duration.
func validSettingName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}
