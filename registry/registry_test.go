package registry

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/config"
	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/sql"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func ptr[T any](v T) *T { return &v }

func TestRegistration_Validate(t *testing.T) {
	good := Registration{Name: "fra1", Region: "eu-central", Latitude: ptr(50.1), Longitude: ptr(8.7),
		PublicAddresses: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")},
		PublicURL:       "https://cache.example.org"}
	if err := good.Validate(); err != nil {
		t.Fatalf("good registration: %v", err)
	}
	if err := (Registration{Name: "bare"}).Validate(); err != nil {
		t.Fatalf("a registration with nothing but a name: %v", err)
	}
	for _, tc := range []struct {
		change func(*Registration)
		field  string
		want   string
	}{
		{func(r *Registration) { r.Name = "Fra1" }, "Name", "must be 1-40 characters"},
		{func(r *Registration) { r.Region = strings.Repeat("x", 65) }, "Region", "at most 64"},
		{func(r *Registration) { r.Region = "eu\ncentral" }, "Region", "no control character"},
		{func(r *Registration) { r.Longitude = nil }, "Longitude", "is required with Latitude 50.1"},
		{func(r *Registration) { r.Latitude = nil }, "Latitude", "is required with Longitude 8.7"},
		{func(r *Registration) { r.Latitude = ptr(90.5) }, "Latitude", "between -90 and 90"},
		{func(r *Registration) { r.Longitude = ptr(-180.1) }, "Longitude", "between -180 and 180"},
		{func(r *Registration) { r.PublicAddresses = []netip.Addr{netip.MustParseAddr("0.0.0.0")} }, "PublicAddresses", "unicast"},
		{func(r *Registration) { r.PublicAddresses = []netip.Addr{netip.MustParseAddr("::ffff:192.0.2.1")} }, "PublicAddresses", "unicast"},
		{func(r *Registration) { r.PublicURL = "cache.example.org" }, "PublicURL", "http:// or https://"},
		{func(r *Registration) { r.PublicURL = "ftp://cache.example.org" }, "PublicURL", "http:// or https://"},
	} {
		r := good
		tc.change(&r)
		err := r.Validate()
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: Validate() = %v, want an error of field %s saying %q", r, err, tc.field, tc.want)
		}
	}
}

// A heartbeat writes nothing before the edge's replicator has made its
// row, then writes the registration and health, as the edge's own role;
// List reads it back with the state of the edge's slot.
func TestHeartbeat_Beat(t *testing.T) {
	t.Parallel()
	url := pgtest.NewOriginDatabase(t)
	admin := pgtest.Connect(t, url)
	role := "edge_" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "_")
	if err := sql.GrantEdgeRole(t.Context(), admin, role, "pw"); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.User, cfg.ConnConfig.Password = role, "pw"
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	health := Health{Ready: true, Lag: 1500 * time.Millisecond, LagKnown: true}
	reg := Registration{Name: "fra1", Region: "eu-central", Latitude: ptr(50.1), Longitude: ptr(8.7),
		PublicAddresses: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")},
		PublicURL:       "https://cache.example.org"}
	hb, err := NewHeartbeat(HeartbeatConfig{Registration: reg, Health: func() Health { return health }}, pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := hb.Beat(t.Context()); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("beat before the row exists = %v, want ErrNotRegistered", err)
	}
	if _, err := admin.Exec(t.Context(), `INSERT INTO edge (name, slot_name, last_seen) VALUES ('fra1', 'narthex_fra1_00000000', now() - interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	edges, err := List(t.Context(), admin, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(edges) != 1 || edges[0].State != StateAway {
		t.Fatalf("an edge unseen for an hour: %+v, want one, away", edges)
	}
	if err := hb.Beat(t.Context()); err != nil {
		t.Fatalf("beat: %v", err)
	}
	edges, err = List(t.Context(), admin, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := edges[0]
	if e.Region != "eu-central" || *e.Latitude != 50.1 || *e.Longitude != 8.7 || e.PublicURL != "https://cache.example.org" ||
		len(e.PublicAddresses) != 2 || e.PublicAddresses[0].String() != "192.0.2.1" || e.PublicAddresses[1].String() != "2001:db8::1" {
		t.Errorf("registered %+v", e)
	}
	if e.Ready == nil || !*e.Ready || e.ReplicaLagSeconds == nil || *e.ReplicaLagSeconds != 1.5 || e.SecondsSinceSeen > 60 {
		t.Errorf("health %+v", e)
	}
	if e.State != StateSlotMissing || e.LagBytes != nil || e.RetainedBytes != nil {
		t.Errorf("an edge without its slot: state %q, lag %v, retained %v; want slot missing and no figures", e.State, e.LagBytes, e.RetainedBytes)
	}

	// A slot nobody streams from: the edge is disconnected, and the slot
	// retains WAL from its restart point.
	if _, err := admin.Exec(t.Context(), `SELECT pg_create_logical_replication_slot('narthex_fra1_00000000', 'pgoutput')`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(t.Context(), `INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ('`+strings.Repeat("0", 32)+`', 'x', 'sha256:x', 1, 'x')`); err != nil {
		t.Fatal(err)
	}
	edges, err = List(t.Context(), admin, 0)
	if err != nil {
		t.Fatal(err)
	}
	if e := edges[0]; e.State != StateDisconnected || !e.SlotExists || e.SlotActive || e.LagBytes == nil || e.RetainedBytes == nil || *e.RetainedBytes <= 0 {
		t.Errorf("an edge whose slot does not stream: %+v, lag %v, retained %v", e, deref(e.LagBytes), deref(e.RetainedBytes))
	}

	// Moving on: an edge that stops giving coordinates or addresses has
	// them cleared, and one that says it is not ready says so.
	health = Health{Ready: false}
	hb, err = NewHeartbeat(HeartbeatConfig{Registration: Registration{Name: "fra1"}, Health: func() Health { return health }}, pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := hb.Beat(t.Context()); err != nil {
		t.Fatal(err)
	}
	edges, err = List(t.Context(), admin, 0)
	if err != nil {
		t.Fatal(err)
	}
	if e := edges[0]; e.Latitude != nil || len(e.PublicAddresses) != 0 || e.Ready == nil || *e.Ready || e.ReplicaLagSeconds != nil {
		t.Errorf("after a bare registration: %+v", e)
	}
}

func TestEdge_State(t *testing.T) {
	no, yes := ptr(false), ptr(true)
	for _, tc := range []struct {
		e    Edge
		want State
	}{
		{Edge{SecondsSinceSeen: 61, SlotExists: true, SlotActive: true, Ready: yes}, StateAway},
		{Edge{RebuildingSince: ptr(time.Now()), SlotExists: false}, StateRebuilding},
		{Edge{SlotExists: false}, StateSlotMissing},
		{Edge{SlotExists: true}, StateDisconnected},
		{Edge{SlotExists: true, SlotActive: true, Ready: no}, StateLagging},
		{Edge{SlotExists: true, SlotActive: true, Ready: yes}, StateReady},
		// An edge that never beat is judged by its slot alone.
		{Edge{SlotExists: true, SlotActive: true}, StateReady},
	} {
		if got := tc.e.state(time.Minute); got != tc.want {
			t.Errorf("%+v: state %q, want %q", tc.e, got, tc.want)
		}
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// Run keeps trying while the edge has no row, registers it soon after
// its replicator makes one, and stops when its context ends.
func TestHeartbeat_Run(t *testing.T) {
	t.Parallel()
	url := pgtest.NewOriginDatabase(t)
	admin := pgtest.Connect(t, url)
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var beats atomic.Int64 // Health is asked once a beat
	hb, err := NewHeartbeat(HeartbeatConfig{Registration: Registration{Name: "sin1", Region: "ap-southeast"},
		Health: func() Health { beats.Add(1); return Health{Ready: true} }, Interval: time.Hour, RetryInterval: 10 * time.Millisecond}, pool)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		hb.Run(ctx)
	}()
	testutil.Eventually(t, "beats finding no row", time.Minute, func() bool { return beats.Load() >= 2 })
	if _, err := admin.Exec(t.Context(), `INSERT INTO edge (name, slot_name) VALUES ('sin1', 'narthex_sin1_00000000')`); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the edge registered", time.Minute, func() bool {
		var region string
		err := admin.QueryRow(t.Context(), `SELECT region FROM edge WHERE name = 'sin1'`).Scan(&region)
		return err == nil && region == "ap-southeast"
	})
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Run did not stop when its context ended")
	}
}
