package pgcluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// stopTimeout bounds a fast shutdown before the postmaster is killed.
const stopTimeout = 30 * time.Second

// maxSocketPath is the longest unix socket path Linux accepts (sun_path
// holds 108 bytes with the terminating NUL).
const maxSocketPath = 107

// defaultSettings make the cluster able to serve narthex: logical
// replication with a slot per edge, and room for origin, edges and tests.
var defaultSettings = map[string]string{
	"wal_level":             "logical",
	"max_replication_slots": "64",
	"max_wal_senders":       "64",
	"max_connections":       "200",
}

// Cluster is a local PostgreSQL server started by Start. Its methods are safe
// for concurrent use.
type Cluster struct {
	dir       string // Config.Dir, absolute
	dataDir   string
	socketDir string
	logPath   string
	binDir    string
	port      int
	netns     string            // Config.Netns
	settings  map[string]string // defaults merged with Config.Settings
	acct      account
	log       *slog.Logger

	mu   sync.Mutex
	proc *process // nil while stopped
}

// Start creates the cluster in cfg.Dir unless it exists, starts its server
// and returns once the server accepts connections.
//
// The server listens on 127.0.0.1:Port (on every address of Config.Netns,
// when set) and on a unix socket in Dir/run, with
// wal_level=logical, max_replication_slots=64, max_wal_senders=64 and
// max_connections=200 unless cfg.Settings says otherwise. Its output goes to
// Dir/postgres.log, which errors quote when the server does not come up.
// Start fails with ErrNotInstalled when the binaries are missing.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, err := newCluster(cfg)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func newCluster(cfg Config) (*Cluster, error) {
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("cluster dir: %w", err)
	}
	binDir, err := FindBinDir(cfg.BinDir)
	if err != nil {
		return nil, err
	}
	acct, err := lookupAccount()
	if err != nil {
		return nil, err
	}
	if dir, err = acct.place(dir, cmp.Or(cfg.ReachableDir, DefaultReachableDir)); err != nil {
		return nil, err
	}
	port := cfg.Port
	if port == 0 {
		if port, err = keptPort(dir); err != nil {
			return nil, err
		}
	}
	c := &Cluster{
		dir:       dir,
		dataDir:   filepath.Join(dir, "data"),
		socketDir: filepath.Join(dir, "run"),
		logPath:   filepath.Join(dir, "postgres.log"),
		binDir:    binDir,
		port:      port,
		netns:     cfg.Netns,
		settings:  maps.Clone(defaultSettings),
		acct:      acct,
		log:       cfg.Logger,
	}
	maps.Copy(c.settings, cfg.Settings)
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "pgcluster")
	if socket := c.socketPath(); len(socket) > maxSocketPath {
		return nil, fmt.Errorf("cluster dir %s: unix socket path %s is longer than %d bytes", dir, socket, maxSocketPath)
	}
	return c, nil
}

// start brings the server up; c.mu is held and the server is stopped.
func (c *Cluster) start(ctx context.Context) error {
	if err := c.makeDirs(); err != nil {
		return err
	}
	if err := c.initdb(ctx); err != nil {
		return c.explain(err)
	}
	for _, lock := range []string{filepath.Join(c.dataDir, "postmaster.pid"), c.socketPath() + ".lock"} {
		if err := clearStaleLock(ctx, lock, c.dataDir); err != nil {
			return err
		}
	}
	logFile, offset, err := openLog(c.logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(c.binDir, "postgres"), c.args()...)
	cmd.Dir = c.dataDir
	cmd.Env = childEnv()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.acct.cred}
	p, err := startProcess(cmd, c.netns, c.log)
	logFile.Close() // the child holds its own descriptor
	if err != nil {
		return c.explain(fmt.Errorf("start postgres: %w", err))
	}
	p.logOffset = offset
	if err := c.waitReady(ctx, p); err != nil {
		_ = p.stop(stopTimeout)
		err = fmt.Errorf("start postgres (log %s): %w", c.logPath, c.explain(err))
		if tail := logSince(c.logPath, offset); tail != "" {
			err = fmt.Errorf("%w\n%s", err, tail)
		}
		return err
	}
	if err := keepPort(c.dir, c.port); err != nil {
		_ = p.stop(stopTimeout)
		return err
	}
	c.proc = p
	c.log.Info("postgres started", "dir", c.dir, "port", c.port, "netns", c.netns, "pid", p.pid())
	return nil
}

// makeDirs creates Dir and Dir/run and hands them to the account. Missing
// parents of Dir are made searchable by everyone, as the account must pass
// through them.
func (c *Cluster) makeDirs() error {
	if err := os.MkdirAll(filepath.Dir(c.dir), 0o755); err != nil {
		return fmt.Errorf("cluster dir: %w", err)
	}
	for _, d := range []string{c.dir, c.socketDir} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("cluster dir: %w", err)
		}
		if err := c.acct.own(d); err != nil {
			return fmt.Errorf("cluster dir: %w", err)
		}
	}
	return nil
}

// explain adds to err why the account may be unable to reach Dir.
func (c *Cluster) explain(err error) error {
	if why := c.acct.blockedAt(c.dir); why != "" {
		return fmt.Errorf("%w (%s)", err, why)
	}
	return err
}

func (c *Cluster) socketPath() string {
	return filepath.Join(c.socketDir, ".s.PGSQL."+strconv.Itoa(c.port))
}

// args are the postgres command-line arguments: the settings in name order,
// then the ones that keep the server on loopback (or in its namespace) and
// inside Dir.
func (c *Cluster) args() []string {
	listen := "127.0.0.1"
	if c.netns != "" {
		listen = "*"
	}
	args := []string{"-D", c.dataDir}
	for _, name := range slices.Sorted(maps.Keys(c.settings)) {
		args = append(args, "-c", name+"="+c.settings[name])
	}
	return append(args,
		"-c", "listen_addresses="+listen,
		"-c", "port="+strconv.Itoa(c.port),
		// Quoted: the setting is a comma-separated list.
		"-c", `unix_socket_directories="`+c.socketDir+`"`,
	)
}

// Dir returns the folder holding the cluster's files: Config.Dir, or the
// folder it links to (see Config.ReachableDir).
func (c *Cluster) Dir() string { return c.dir }

// LogPath returns the path of the server log.
func (c *Cluster) LogPath() string { return c.logPath }

// Port returns the TCP port the server listens on at 127.0.0.1, or at the
// addresses of its network namespace.
func (c *Cluster) Port() int { return c.port }

// ConnString returns a URL connecting to database dbname as the postgres
// superuser over TCP, or through the unix socket when the server runs in a
// network namespace of its own.
func (c *Cluster) ConnString(dbname string) string {
	if c.netns != "" {
		return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable",
			url.PathEscape(dbname), url.QueryEscape(c.socketDir), c.port)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, url.PathEscape(dbname))
}

// Running reports whether the server is up: started and neither stopped nor
// crashed.
func (c *Cluster) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proc != nil && !c.proc.exited()
}

// Restart stops the server if it runs and starts it again with the same
// Dir, Port and settings. A failed stop (such as a crash found on the way)
// is logged, not returned: the server is started either way.
func (c *Cluster) Restart(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.stop(); err != nil {
		c.log.Warn("stop before restart", "err", err)
	}
	return c.start(ctx)
}

// Stop shuts the server down fast (SIGINT: open transactions roll back, a
// checkpoint is written) and waits for it to exit, killing it after 30 s.
// Stopping a stopped cluster does nothing. The data stays in Dir.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stop()
}

// stop stops the server if it runs; c.mu is held.
func (c *Cluster) stop() error {
	p := c.proc
	if p == nil {
		return nil
	}
	c.proc = nil
	err := p.stop(stopTimeout)
	c.log.Info("postgres stopped", "dir", c.dir, "pid", p.pid(), "err", err)
	return err
}
