package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/narthex-cache/narthex/dashboard"
	"github.com/narthex-cache/narthex/edge"
	"github.com/narthex-cache/narthex/narinfo"
	"github.com/narthex-cache/narthex/origin"
	"github.com/narthex-cache/narthex/pgcluster"
	"github.com/narthex-cache/narthex/registry"
	"github.com/narthex-cache/narthex/replication"
	"github.com/narthex-cache/narthex/sql"
	"golang.org/x/sync/errgroup"
)

const devDatabase = "narthex"

func runDev(ctx context.Context, args []string) error {
	f := newFlags("dev", "Runs a throwaway PostgreSQL cluster, an origin and edges on this machine, ready for\n"+
		"nix copy. State is kept in --dir; running again on the same folder resumes, with the same\n"+
		"PostgreSQL port. The database URL is printed and written to <dir>/database-url. If\n"+
		"PostgreSQL dies, narthex dev stops with an error (its log is named) rather than serve without it.")
	dir := f.String("dir", "./narthex-dev", "state folder: PostgreSQL cluster, NAR files, replicas, keys and token")
	port := f.Int("port", 8080, "origin port on 127.0.0.1; edge i listens on port+i")
	edges := f.Int("edges", 2, "number of edges")
	pgPort := f.Int("postgres-port", 0, "PostgreSQL port on 127.0.0.1 (0: the port of the last run on --dir, or a free one)")
	pgBin := f.String("pg-bin", "", "folder holding PostgreSQL's initdb and postgres (default: found on PATH, by pg_config\nor in /usr/lib/postgresql/<version>/bin; as root, installed with apt-get when missing)")
	if err := f.parse(args); err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	if *edges < 0 || *port <= 0 || *port+*edges > 65535 {
		return errors.New("--port and --edges must leave room for port+edges below 65536")
	}
	if *pgPort < 0 || *pgPort > 65535 {
		return fmt.Errorf("--postgres-port %d is outside 0-65535", *pgPort)
	}
	err = dev(ctx, log, devConfig{dir: *dir, port: *port, edges: *edges, pgPort: *pgPort, pgBin: *pgBin})
	if err != nil && ctx.Err() != nil {
		// Interrupted: what failed was cut short on purpose.
		log.Debug("interrupted", "err", err)
		return nil
	}
	return err
}

// devConfig is what narthex dev was asked for, its flags checked.
type devConfig struct {
	dir         string
	port, edges int
	pgPort      int
	pgBin       string
}

// dev runs narthex dev until ctx ends or a part of it fails.
func dev(ctx context.Context, log *slog.Logger, cfg devConfig) error {
	abs, err := filepath.Abs(cfg.dir)
	if err != nil {
		return fmt.Errorf("--dir: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return fmt.Errorf("--dir: %w", err)
	}
	release, err := lockDevDir(abs)
	if err != nil {
		return err
	}
	defer release()

	// Listen first, so a busy port fails before anything is set up.
	listeners := make([]net.Listener, 0, 1+cfg.edges)
	defer func() {
		for _, ln := range listeners {
			ln.Close()
		}
	}()
	for i := 0; i <= cfg.edges; i++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", cfg.port+i))
		if err != nil {
			return fmt.Errorf("--port: %w", err)
		}
		listeners = append(listeners, ln)
	}
	binDir, err := newPostgresFinder().findPostgres(ctx, cfg.pgBin)
	if err != nil {
		return err
	}

	fmt.Printf("narthex dev: state in %s\n", abs)
	pgDir := filepath.Join(abs, "postgres")
	cluster, err := pgcluster.Start(ctx, pgcluster.Config{Dir: pgDir, Port: cfg.pgPort, BinDir: binDir, Logger: log})
	if err != nil {
		return err
	}
	pgDied := false // set by the watcher below; read after g.Wait
	defer func() {
		if err := cluster.Stop(); err != nil && !pgDied {
			log.Error("stop PostgreSQL", "err", err)
		}
	}()
	if cluster.Dir() != pgDir {
		fmt.Printf("postgres cluster in %s (the postgres user cannot enter %s; %s links there)\n", cluster.Dir(), abs, pgDir)
	}
	if err := ensureDatabase(ctx, cluster, devDatabase); err != nil {
		return err
	}
	dbURL := cluster.ConnString(devDatabase)
	if err := sql.MigrateURL(ctx, dbURL); err != nil {
		return err
	}
	urlPath := filepath.Join(abs, "database-url")
	if err := writeFile(urlPath, dbURL+"\n", 0o644); err != nil {
		return err
	}
	db, err := openPool(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	key, err := devSigningKey(abs)
	if err != nil {
		return err
	}
	token, err := devToken(ctx, db, abs)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(abs, "netrc"), fmt.Sprintf("machine 127.0.0.1 login narthex password %s\n", token), 0o600); err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := cluster.Wait(gctx); err != nil {
			pgDied = true
			return fmt.Errorf("PostgreSQL stopped under narthex dev: %w", err)
		}
		return nil
	})
	originLn := listeners[0]
	originURL := "http://" + originLn.Addr().String()
	// Everything listens on 127.0.0.1 only: the dashboard needs no token.
	dash, err := dashboard.New(dashboard.Config{DB: db, Logger: log})
	if err != nil {
		return err
	}
	ocfg := origin.Config{
		Dashboard:     dash,
		PublicURL:     originURL,
		LocalStoreDir: filepath.Join(abs, "nars"),
		SigningKeys:   []narinfo.SecretKey{key},
		OpenStore:     openUploadStore,
		Logger:        log,
	}
	g.Go(func() error { return serveOrigin(gctx, ocfg, db, originLn) })
	g.Go(func() error { return maintainEvery(gctx, db, ocfg.LocalStoreDir, defaultOriginMaintainInterval, log) })
	readies := make([]chan struct{}, cfg.edges)
	for i := 1; i <= cfg.edges; i++ {
		ready := make(chan struct{})
		readies[i-1] = ready
		name := fmt.Sprintf("dev%d", i)
		ln := listeners[i]
		g.Go(func() error {
			return serveEdge(gctx, log, ln, replication.Config{
				ConnString: dbURL,
				EdgeName:   name,
				Dir:        filepath.Join(abs, "edge-"+name),
				Logger:     log,
			}, edge.Config{Logger: log, Presign: newPresigners(gctx, nil).presign}, devCounting,
				registering{reg: registry.Registration{Name: name, PublicURL: fmt.Sprintf("http://127.0.0.1:%d", cfg.port+i)}}, ready)
		})
	}
	listeners = nil // the servers own them now

	fmt.Printf("database %s   (%s; psql, narthex token create and loadtest take it)\n", dbURL, urlPath)
	fmt.Printf("origin   %s   (upload with: nix copy --option netrc-file %s --to %s <paths>)\n",
		originURL, filepath.Join(abs, "netrc"), originURL)
	fmt.Printf("dashboard %s/dashboard\n", originURL)
	for i, ready := range readies {
		select {
		case <-ready:
		case <-gctx.Done():
			return g.Wait()
		}
		fmt.Printf("edge %d   http://127.0.0.1:%d\n", i+1, cfg.port+i+1)
	}
	fmt.Printf("public key  %s   (%s)\n", key.Public().String(), filepath.Join(abs, "cache-key.pub"))
	fmt.Println("ready")
	err = g.Wait()
	log.Info("stopped")
	return err
}

// ensureDatabase creates the database unless it exists.
func ensureDatabase(ctx context.Context, c *pgcluster.Cluster, name string) error {
	conn, err := pgx.Connect(ctx, c.ConnString("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	return c.CreateDatabase(ctx, name)
}

// devSigningKey loads the dev cache's key, making one the first time.
func devSigningKey(dir string) (narinfo.SecretKey, error) {
	secPath, pubPath := filepath.Join(dir, "cache-key.sec"), filepath.Join(dir, "cache-key.pub")
	if b, err := os.ReadFile(secPath); err == nil {
		return narinfo.ParseSecretKey(string(b))
	} else if !errors.Is(err, os.ErrNotExist) {
		return narinfo.SecretKey{}, err
	}
	sec, pub, err := narinfo.GenerateKey("narthex-dev-1")
	if err != nil {
		return sec, err
	}
	if err := writeFile(secPath, sec.String(), 0o600); err != nil {
		return sec, err
	}
	return sec, writeFile(pubPath, pub.String(), 0o644)
}

// devToken loads the dev upload token, making one the first time.
func devToken(ctx context.Context, db *pgxpool.Pool, dir string) (string, error) {
	path := filepath.Join(dir, "token")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	// A token of a previous dev run whose file was removed is replaced.
	token, err := origin.ReplaceToken(ctx, db, "dev")
	if err != nil {
		return "", err
	}
	return token, writeFile(path, token+"\n", 0o600)
}

func writeFile(path, content string, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
