// Package certstore keeps certmagic's certificates, keys and locks in the
// origin database, so that every node of a cache (the origin and each
// edge) serves the same certificates: one node orders or renews a
// certificate under a lock the others wait on, the rest find it stored,
// and whichever node the CA reaches answers the challenge from what the
// ordering node stored.
//
// A lock is a row held by one node until it lets go. The holder renews
// its lease while it holds the lock; a node that dies stops renewing,
// and once the lease has lapsed the next node takes the lock.
//
//	s, err := certstore.New(certstore.Config{DB: pool})
//	if err != nil {
//		return err
//	}
//	defer s.Close()
//	magic := certmagic.NewDefault()
//	magic.Storage = s
//
// It must never import a role (origin, edge, gc, loadtest): it is a
// building block of both.
package certstore

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/config"
	"github.com/narthex-cache/narthex/sql"
)

//go:embed queries/*.sql
var queryFiles embed.FS

func query(name string) string { return sql.Query(queryFiles, name) }

var (
	qStore  = query("store")
	qLoad   = query("load")
	qDelete = query("delete")
	qExists = query("exists")
	qBelow  = query("below")
	qStat   = query("stat")
	qLock   = query("lock")
	qRenew  = query("renew")
	qUnlock = query("unlock")
)

// Defaults for the zero values of Config fields.
const (
	// DefaultLease is how long a lock outlives its holder's last renewal:
	// long enough that a node busy or briefly cut off from the database
	// keeps its lock (it renews every third of it), short enough that the
	// lock of a node that died is free again within a minute.
	DefaultLease = time.Minute
	// DefaultPoll is how often a node waiting for a lock tries again.
	// Certificates are ordered rarely and take seconds: a second's wait
	// costs nothing, and a query a second per waiter is nothing either.
	DefaultPoll = time.Second
)

// Config configures a Storage. Zero values take the documented defaults.
type Config struct {
	// DB is the origin database. Required.
	DB *pgxpool.Pool
	// Lease is how long a lock is held after its holder's last renewal.
	// Default 1 min.
	Lease time.Duration
	// Poll is how often Lock tries again while another node holds the
	// lock. Default 1 s.
	Poll time.Duration
	// Logger receives the logs. Default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	if c.Poll == 0 {
		c.Poll = DefaultPoll
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first field of c, defaults applied, that cannot
// work, as a *config.Error.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.DB == nil {
		return &config.Error{Field: "DB", Value: "nil", Problem: "is required"}
	}
	if err := config.NotNegative(config.Duration{Field: "Lease", Value: c.Lease},
		config.Duration{Field: "Poll", Value: c.Poll}); err != nil {
		return err
	}
	if c.Lease < 3*time.Second {
		return &config.Error{Field: "Lease", Value: c.Lease, Problem: "must be at least 3s",
			Why: "its holder renews it every third of it"}
	}
	return nil
}

// Storage is a certmagic.Storage and certmagic.TryLocker on the origin
// database. Its methods are safe for concurrent use.
type Storage struct {
	cfg  Config
	db   *pgxpool.Pool
	log  *slog.Logger
	node string // names this Storage's holds on locks

	mu   sync.Mutex
	held map[string]*hold // by lock name
}

var (
	_ certmagic.Storage   = (*Storage)(nil)
	_ certmagic.TryLocker = (*Storage)(nil)
)

// hold is a lock this Storage holds, with the renewal of its lease.
type hold struct {
	holder string
	stop   context.CancelFunc
	done   chan struct{}
}

// New validates cfg and returns a Storage.
func New(cfg Config) (*Storage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Storage{cfg: cfg, db: cfg.DB, log: cfg.Logger.With("component", "certstore"),
		node: randomID(), held: map[string]*hold{}}, nil
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Close stops renewing the locks this Storage holds and lets go of them.
func (s *Storage) Close() error {
	s.mu.Lock()
	names := make([]string, 0, len(s.held))
	for n := range s.held {
		names = append(names, n)
	}
	s.mu.Unlock()
	var errs []error
	for _, n := range names {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, s.Unlock(ctx, n))
		cancel()
	}
	return errors.Join(errs...)
}

// cleanKey is key as stored: slash-separated, without a leading or
// trailing slash.
func cleanKey(key string) (string, error) {
	k := strings.Trim(key, "/")
	if k == "" {
		return "", fmt.Errorf("certstore: empty key %q", key)
	}
	return k, nil
}

// dirPattern is the LIKE pattern of the keys below directory key ("" for
// every key).
func dirPattern(key string) string {
	if key == "" {
		return "%"
	}
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(key) + "/%"
}

// Store puts value at key, replacing what is there.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	k, err := cleanKey(key)
	if err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	if _, err := s.db.Exec(ctx, qStore, k, value); err != nil {
		return fmt.Errorf("certstore: store %s: %w", k, err)
	}
	return nil
}

// Load returns the value at key, or an error matching fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	k, err := cleanKey(key)
	if err != nil {
		return nil, err
	}
	var v []byte
	err = s.db.QueryRow(ctx, qLoad, k).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("certstore: %s: %w", k, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("certstore: load %s: %w", k, err)
	}
	return v, nil
}

// Delete deletes key and, when it is a directory, every key below it. A
// key that is not there is no error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	k, err := cleanKey(key)
	if err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, qDelete, k, dirPattern(k)); err != nil {
		return fmt.Errorf("certstore: delete %s: %w", k, err)
	}
	return nil
}

// Exists reports whether key is a key or a directory of keys.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	k, err := cleanKey(key)
	if err != nil {
		return false
	}
	var ok bool
	if err := s.db.QueryRow(ctx, qExists, k, dirPattern(k)).Scan(&ok); err != nil {
		s.log.Warn("could not check a key", "key", k, "err", err)
		return false
	}
	return ok
}

// entry is a key below a directory.
type entry struct {
	key      string
	size     int64
	modified time.Time
}

func (s *Storage) below(ctx context.Context, dir string) ([]entry, error) {
	rows, err := s.db.Query(ctx, qBelow, dirPattern(dir))
	if err != nil {
		return nil, err
	}
	var out []entry
	var e entry
	_, err = pgx.ForEachRow(rows, []any{&e.key, &e.size, &e.modified}, func() error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// List returns the keys in directory prefix ("" for the top), as
// certmagic's file storage does: its keys and directories, and, when
// recursive, everything below them too. A prefix that names a key has
// nothing in it; one that names nothing is an error matching
// fs.ErrNotExist.
func (s *Storage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	dir := strings.Trim(prefix, "/")
	es, err := s.below(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("certstore: list %s: %w", dir, err)
	}
	if len(es) == 0 {
		if dir != "" && s.Exists(ctx, dir) {
			return nil, nil
		}
		if dir == "" {
			return nil, nil
		}
		return nil, fmt.Errorf("certstore: %s: %w", dir, fs.ErrNotExist)
	}
	seen := map[string]bool{}
	var keys []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, e := range es {
		rel := e.key
		if dir != "" {
			rel = strings.TrimPrefix(e.key, dir+"/")
		}
		parts := strings.Split(rel, "/")
		if !recursive {
			add(join(dir, parts[0]))
			continue
		}
		for i := range parts {
			add(join(dir, strings.Join(parts[:i+1], "/")))
		}
	}
	sort.Strings(keys)
	return keys, nil
}

func join(dir, rel string) string {
	if dir == "" {
		return rel
	}
	return dir + "/" + rel
}

// Stat describes key: a key with its size and time, or a directory (not
// terminal) with the latest time of what is below it.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	k, err := cleanKey(key)
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	info := certmagic.KeyInfo{Key: k}
	err = s.db.QueryRow(ctx, qStat, k).Scan(&info.Size, &info.Modified)
	if err == nil {
		info.IsTerminal = true
		return info, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return info, fmt.Errorf("certstore: stat %s: %w", k, err)
	}
	es, err := s.below(ctx, k)
	if err != nil {
		return info, fmt.Errorf("certstore: stat %s: %w", k, err)
	}
	if len(es) == 0 {
		return info, fmt.Errorf("certstore: %s: %w", k, fs.ErrNotExist)
	}
	for _, e := range es {
		if e.modified.After(info.Modified) {
			info.Modified = e.modified
		}
	}
	return info, nil
}

// Lock takes lock name, waiting while another holder has it (another
// node, or another caller of this Storage), until ctx ends.
func (s *Storage) Lock(ctx context.Context, name string) error {
	for {
		ok, err := s.TryLock(ctx, name)
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("certstore: waiting for lock %s: %w", name, context.Cause(ctx))
		case <-time.After(s.cfg.Poll):
		}
	}
}

// TryLock takes lock name if nobody holds it, and reports whether it did.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	if name == "" {
		return false, errors.New("certstore: empty lock name")
	}
	holder := s.node + "/" + randomID()
	var got string
	err := s.db.QueryRow(ctx, qLock, name, holder, s.cfg.Lease).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("certstore: lock %s: %w", name, err)
	}
	rctx, stop := context.WithCancel(context.Background())
	h := &hold{holder: holder, stop: stop, done: make(chan struct{})}
	s.mu.Lock()
	s.held[name] = h
	s.mu.Unlock()
	go s.renew(rctx, name, h)
	return true, nil
}

// renew extends the lease of h every third of it until stopped, or until
// the lock is found taken over (its lease lapsed while this node could
// not renew it).
func (s *Storage) renew(ctx context.Context, name string, h *hold) {
	defer close(h.done)
	t := time.NewTicker(s.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var n string
		err := s.db.QueryRow(ctx, qRenew, name, h.holder, s.cfg.Lease).Scan(&n)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, pgx.ErrNoRows):
			s.log.Error("lost a certificate lock: its lease lapsed and another node took it", "lock", name)
			return
		case err != nil:
			s.log.Warn("could not renew a certificate lock; trying again", "lock", name, "err", err)
		}
	}
}

// Unlock lets go of lock name, which this Storage must hold.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	h, ok := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("certstore: lock %s is not held here", name)
	}
	h.stop()
	<-h.done
	if _, err := s.db.Exec(ctx, qUnlock, name, h.holder); err != nil {
		return fmt.Errorf("certstore: unlock %s: %w", name, err)
	}
	return nil
}
