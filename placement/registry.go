package placement

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/narthex-cache/narthex/config"
)

// DB is what the registry needs of PostgreSQL: a *pgxpool.Pool or a
// *pgx.Conn.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

var (
	_ DB = (*pgxpool.Pool)(nil)
	_ DB = (*pgx.Conn)(nil)
)

var (
	// ErrUnknownStore is returned for a name no store has.
	ErrUnknownStore = errors.New("unknown store")
	// ErrStoreExists is returned by Add for a name a store already has.
	ErrStoreExists = errors.New("a store with this name exists")
	// ErrNotEmpty is returned by Delete, without force, for a store that
	// still holds payload locations.
	ErrNotEmpty = errors.New("drain it first")
	// ErrDrainedInto is returned by Delete for a store another store
	// drains into.
	ErrDrainedInto = errors.New("other stores drain into it")
	// ErrLastCopy is returned by Delete, even with force, for a store that
	// holds the last good copy of some payload.
	ErrLastCopy = errors.New("it holds the last good copy of some payloads")
	// ErrNameOrKindChanged is returned by Set when the change renames the
	// store or changes its kind, which no change may.
	ErrNameOrKindChanged = errors.New("a store's name and kind cannot change")
)

const uniqueViolation = "23505"

// Add validates st and records it, resolving DrainTo to the store it names,
// and returns it as recorded. A store of the same name gives
// ErrStoreExists; a DrainTo that names no store a *config.Error for
// DrainTo. Nothing is recorded on any error. Whether the store can be
// reached is the caller's to check first, with Probe.
func Add(ctx context.Context, db DB, st Store) (Store, error) {
	if err := st.Validate(); err != nil {
		return Store{}, err
	}
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		drainTo, err := drainTarget(ctx, tx, st.DrainTo, 0)
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, qInsertStore, st.Name, st.Kind, st.BaseURL, st.Region, st.Latitude, st.Longitude,
			st.UploadPriority, st.DownloadPriority, st.Populate, st.Drain, drainTo,
			st.ReadOnly, st.WriteOnly, st.SoftMaxSize, st.MaxSize, string(st.settings())).Scan(&st.ID, &st.CreatedAt)
	})
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == uniqueViolation {
		return Store{}, fmt.Errorf("add store %q: %w", st.Name, ErrStoreExists)
	}
	if err != nil {
		return Store{}, wrap("add store", st.Name, err)
	}
	st.Settings = st.settings()
	return st, nil
}

// drainTarget returns the id of the store named name, nil for "", holding
// its row until the transaction ends. It refuses a target that drains into
// self, the id of the store that is to drain into it (0 for a new one):
// the two would move payloads back and forth.
func drainTarget(ctx context.Context, tx pgx.Tx, name string, self int32) (*int32, error) {
	if name == "" {
		return nil, nil
	}
	var id int32
	var its *int32
	err := tx.QueryRow(ctx, qStoreID, name).Scan(&id, &its)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &config.Error{Field: "DrainTo", Value: fmt.Sprintf("%q", name), Problem: "names no store"}
	}
	if err != nil {
		return nil, err
	}
	if its != nil && *its == self {
		return nil, &config.Error{Field: "DrainTo", Value: fmt.Sprintf("%q", name), Problem: "drains into this store", Why: "two stores cannot drain into each other"}
	}
	return &id, nil
}

// wrap adds what failed and the store's name to err, except to a
// *config.Error, which the caller maps to its own names as it is.
func wrap(what, name string, err error) error {
	if _, ok := errors.AsType[*config.Error](err); ok {
		return err
	}
	return fmt.Errorf("%s %q: %w", what, name, err)
}

// List returns every store, by name.
func List(ctx context.Context, db DB) ([]Store, error) {
	rows, err := db.Query(ctx, qListStores, nil)
	if err != nil {
		return nil, fmt.Errorf("list stores: %w", err)
	}
	list, err := pgx.CollectRows(rows, scanStore)
	if err != nil {
		return nil, fmt.Errorf("list stores: %w", err)
	}
	return list, nil
}

// Get returns the store named name, or ErrUnknownStore.
func Get(ctx context.Context, db DB, name string) (Store, error) {
	rows, err := db.Query(ctx, qListStores, name)
	if err != nil {
		return Store{}, fmt.Errorf("store %q: %w", name, err)
	}
	st, err := pgx.CollectExactlyOneRow(rows, scanStore)
	if errors.Is(err, pgx.ErrNoRows) {
		return Store{}, fmt.Errorf("%w %q", ErrUnknownStore, name)
	}
	if err != nil {
		return Store{}, fmt.Errorf("store %q: %w", name, err)
	}
	return st, nil
}

// scanStore reads a row of list_stores.sql or lock_store.sql.
func scanStore(row pgx.CollectableRow) (Store, error) {
	var st Store
	var settings []byte
	err := row.Scan(&st.ID, &st.Name, &st.Kind, &st.BaseURL, &st.Region, &st.Latitude, &st.Longitude,
		&st.UploadPriority, &st.DownloadPriority, &st.Populate, &st.Drain, &st.DrainTo,
		&st.ReadOnly, &st.WriteOnly, &st.SoftMaxSize, &st.MaxSize, &settings, &st.CreatedAt)
	st.Settings = settings
	return st, err
}

// lock reads the store named name and locks its row until tx ends.
func lock(ctx context.Context, tx pgx.Tx, name string) (Store, error) {
	rows, err := tx.Query(ctx, qLockStore, name)
	if err != nil {
		return Store{}, err
	}
	st, err := pgx.CollectExactlyOneRow(rows, scanStore)
	if errors.Is(err, pgx.ErrNoRows) {
		return Store{}, ErrUnknownStore
	}
	return st, err
}

// Set changes the store named name: change is given the store as it is and
// changes the fields that change; the result is validated as Add validates
// a new store (its name excepted, which, like its kind, must stay) and
// written back, all in one transaction with the row locked, so that two
// Sets of different fields both take effect. It returns the store as
// written. Nothing is written on any error.
func Set(ctx context.Context, db DB, name string, change func(*Store)) (Store, error) {
	var st Store
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		old, err := lock(ctx, tx, name)
		if err != nil {
			return err
		}
		st = old
		change(&st)
		if st.ID != old.ID || st.Name != old.Name || st.Kind != old.Kind {
			return ErrNameOrKindChanged
		}
		if err := st.validatePolicy(); err != nil {
			return err
		}
		drainTo, err := drainTarget(ctx, tx, st.DrainTo, st.ID)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, qUpdateStore, st.ID, st.BaseURL, st.Region, st.Latitude, st.Longitude,
			st.UploadPriority, st.DownloadPriority, st.Populate, st.Drain, drainTo,
			st.ReadOnly, st.WriteOnly, st.SoftMaxSize, st.MaxSize, string(st.settings()))
		return err
	})
	if err != nil {
		return Store{}, wrap("set store", name, err)
	}
	st.Settings = st.settings()
	return st, nil
}

// Delete forgets the store named name. It refuses a store that another
// store drains into (ErrDrainedInto, naming them) and, unless force, a store
// that holds any payload location (ErrNotEmpty). With force the store's
// locations are forgotten with it, but never the last good copy of a
// payload: then it refuses with ErrLastCopy, saying how many payloads would
// lose theirs. Nothing is deleted on any error. The store's objects are left
// where they are.
func Delete(ctx context.Context, db DB, name string, force bool) error {
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		st, err := lock(ctx, tx, name)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, qDrainedInto, st.ID)
		if err != nil {
			return err
		}
		drainers, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if len(drainers) > 0 {
			return fmt.Errorf("%w: %s", ErrDrainedInto, strings.Join(drainers, ", "))
		}
		if _, err := tx.Exec(ctx, qLockLocations, st.ID); err != nil {
			return err
		}
		var locations, lastGood int64
		if err := tx.QueryRow(ctx, qLocationCounts, st.ID).Scan(&locations, &lastGood); err != nil {
			return err
		}
		switch {
		case locations > 0 && !force:
			return fmt.Errorf("it holds %d payload locations: %w", locations, ErrNotEmpty)
		case lastGood > 0:
			return fmt.Errorf("%w: %d would have no good copy left", ErrLastCopy, lastGood)
		}
		if _, err := tx.Exec(ctx, qDeleteLocations, st.ID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, qDeleteStore, st.ID)
		return err
	})
	if err != nil {
		return wrap("delete store", name, err)
	}
	return nil
}
