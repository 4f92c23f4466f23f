package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/narthex-cache/narthex/edge"
	"github.com/narthex-cache/narthex/narinfo"
	"github.com/narthex-cache/narthex/origin"
	"github.com/narthex-cache/narthex/pgcluster"
	"github.com/narthex-cache/narthex/replication"
	"github.com/narthex-cache/narthex/sql"
)

const devDatabase = "narthex"

func runDev(ctx context.Context, args []string) error {
	f := newFlags("dev", "Runs a throwaway PostgreSQL cluster, an origin and edges on this machine, ready for\nnix copy. State is kept in --dir; running again on the same folder resumes.")
	dir := f.String("dir", "./narthex-dev", "state folder: PostgreSQL cluster, NAR files, replicas, keys and token")
	port := f.Int("port", 8080, "origin port on 127.0.0.1; edge i listens on port+i")
	edges := f.Int("edges", 2, "number of edges")
	pgPort := f.Int("postgres-port", 0, "PostgreSQL port on 127.0.0.1 (0 picks a free one)")
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
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}

	// Listen first, so a busy port fails before anything is set up.
	listeners := make([]net.Listener, 0, 1+*edges)
	defer func() {
		for _, ln := range listeners {
			ln.Close()
		}
	}()
	for i := 0; i <= *edges; i++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port+i))
		if err != nil {
			return err
		}
		listeners = append(listeners, ln)
	}

	fmt.Printf("narthex dev: state in %s\n", abs)
	cluster, err := pgcluster.Start(ctx, pgcluster.Config{Dir: filepath.Join(abs, "postgres"), Port: *pgPort, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			log.Error("stop PostgreSQL", "err", err)
		}
	}()
	if err := ensureDatabase(ctx, cluster, devDatabase); err != nil {
		return err
	}
	dbURL := cluster.ConnString(devDatabase)
	if err := sql.MigrateURL(ctx, dbURL); err != nil {
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

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 1+*edges)
	run := func(fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	originLn := listeners[0]
	originURL := "http://" + originLn.Addr().String()
	ocfg := origin.Config{
		PublicURL:     originURL,
		LocalStoreDir: filepath.Join(abs, "nars"),
		SigningKeys:   []narinfo.SecretKey{key},
		Logger:        log,
	}
	run(func() error { return serveOrigin(ctx, ocfg, db, originLn) })
	readies := make([]chan struct{}, *edges)
	for i := 1; i <= *edges; i++ {
		ready := make(chan struct{})
		readies[i-1] = ready
		name := fmt.Sprintf("dev%d", i)
		ln := listeners[i]
		elog := log
		run(func() error {
			return serveEdge(ctx, elog, ln, replication.Config{
				ConnString: dbURL,
				EdgeName:   name,
				Dir:        filepath.Join(abs, "edge-"+name),
				Logger:     elog,
			}, edge.Config{Logger: elog}, ready)
		})
	}
	listeners = nil // the servers own them now

	fmt.Printf("origin   %s   (upload with: nix copy --option netrc-file %s --to %s <paths>)\n",
		originURL, filepath.Join(abs, "netrc"), originURL)
	for i, ready := range readies {
		select {
		case <-ready:
		case <-ctx.Done():
			wg.Wait()
			return firstError(errc)
		}
		fmt.Printf("edge %d   http://127.0.0.1:%d\n", i+1, *port+i+1)
	}
	fmt.Printf("public key  %s   (%s)\n", key.Public().String(), filepath.Join(abs, "cache-key.pub"))
	fmt.Println("ready")
	<-ctx.Done()
	wg.Wait()
	log.Info("stopped")
	return firstError(errc)
}

func firstError(errc chan error) error {
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
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
	if _, err := db.Exec(ctx, "DELETE FROM upload_token WHERE name = 'dev'"); err != nil {
		return "", err
	}
	token, err := origin.CreateToken(ctx, db, "dev")
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
