package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/placement"
)

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		err  string // "" for none
	}{
		{"0", 0, ""},
		{"123", 123, ""},
		{"123B", 123, ""},
		{"10K", 10 << 10, ""},
		{"10k", 10 << 10, ""},
		{"10KiB", 10 << 10, ""},
		{"10KB", 10_000, ""},
		{"500MiB", 500 << 20, ""},
		{"500M", 500 << 20, ""},
		{"500MB", 500_000_000, ""},
		{"10G", 10 << 30, ""},
		{"10 GiB", 10 << 30, ""},
		{"1.5G", 3 << 29, ""},
		{"2T", 2 << 40, ""},
		{"1PB", 1_000_000_000_000_000, ""},
		{"0.5B", 0, ""},
		{"9223372036854775807", 9223372036854775807, ""},
		{"9223372036854775808", 0, "too large"},
		{"8192P", 0, "too large"},
		{"-1", 0, "not a size"},
		{"-10G", 0, "not a size"},
		{"", 0, "not a size"},
		{"G", 0, "not a size"},
		{"1e9", 0, "not a size"},
		{"10X", 0, `unknown unit "X"`},
		{"10 G B", 0, "not a size"},
		{"1.G", 0, "not a size"},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("parseSize(%q) = %d, %v; want an error saying %q", tt.in, got, err, tt.err)
		}
	}
}

func TestFormatSize(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 29: "1.5 GiB", 10 << 40: "10.0 TiB"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// storeRows is the store and payload_location rows as text.
func storeRows(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var s string
	err := conn.QueryRow(t.Context(), `SELECT
		coalesce((SELECT string_agg(s::text, E'\n' ORDER BY s.id) FROM store s), '') || E'\n--\n' ||
		coalesce((SELECT string_agg(l::text, E'\n' ORDER BY l.url, l.store_id) FROM payload_location l), '')`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// storeRow reads the store named name as the registry has it.
func storeRow(t *testing.T, db, name string) placement.Store {
	t.Helper()
	out, errOut, code := narthex(t, "stores", "list", "--json", "--database-url", db)
	if code != 0 {
		t.Fatalf("stores list: exit %d: %s", code, errOut)
	}
	var list []placement.Store
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("stores list --json: %v\n%s", err, out)
	}
	for _, s := range list {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no store %q in %s", name, out)
	return placement.Store{}
}

// TestStores_BadInput runs command lines that must be refused with one line
// naming what the user typed, and checks that they record nothing.
func TestStores_BadInput(t *testing.T) {
	t.Parallel()
	db := pgtest.NewOriginDatabase(t)
	conn := pgtest.Connect(t, db)
	dir := t.TempDir()
	base := []string{"--database-url", db}
	_, errOut, code := narthex(t, append([]string{"stores", "add", "disk", "--kind", "local", "--dir", filepath.Join(dir, "disk"),
		"--base-url", "http://origin.example", "--max-size", "10G"}, base...)...)
	if code != 0 {
		t.Fatalf("add disk: exit %d: %s", code, errOut)
	}
	// A directory nothing can be written in, not even by root: a file
	// stands where the probe's folder would be.
	unwritable := filepath.Join(dir, "unwritable")
	if err := os.MkdirAll(unwritable, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(unwritable, "narthex-probe"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(unwritable, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(unwritable, 0o755) })
	local := func(name string, more ...string) []string {
		return append([]string{"stores", "add", name, "--kind", "local", "--dir", filepath.Join(dir, name), "--base-url", "http://origin.example"}, more...)
	}
	before := storeRows(t, conn)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"stores"}, "no action given"},
		{[]string{"stores", "rename", "disk"}, `unknown action "rename"`},
		{[]string{"stores", "add", "x", "--kind", "local"}, "--dir is required"},
		{[]string{"stores", "add"}, "missing NAME"},
		{[]string{"stores", "add", "x"}, "--kind is required"},
		{[]string{"stores", "add", "x", "--kind", "ftp"}, `--kind "ftp" is not a kind of store`},
		{local("Bad Name"), `store name "Bad Name" is not a store name`},
		{local("x", "--read-only", "--write-only"), "--read-only true contradicts --write-only true"},
		{local("x", "--drain=x"), `--drain "x" is the store itself`},
		{local("x", "--drain=nowhere"), `--drain=nowhere: unknown store "nowhere"`},
		{local("x", "--max-size", "-1"), `--max-size "-1": not a size`},
		{local("x", "--max-size", "10Q"), `--max-size "10Q": unknown unit "Q"`},
		{local("x", "--soft-max-size", "99999999999E"), `--soft-max-size "99999999999E": unknown unit "E"`},
		{local("x", "--soft-max-size", "9000000P"), `--soft-max-size "9000000P": too large`},
		{local("x", "--soft-max-size", "2G", "--max-size", "1G"), "--soft-max-size 2147483648 is above --max-size 1073741824"},
		{local("x", "--lat", "91", "--lon", "0"), "--lat 91 is outside [-90, 90]"},
		{local("x", "--lat", "1", "--lon", "190"), "--lon 190 is outside [-180, 180]"},
		{local("x", "--lat", "1"), "--lon unset must be set with --lat 1"},
		{local("x", "--lat", "north", "--lon", "1"), `--lat "north": invalid syntax`},
		{local("x", "--upload-priority", "high"), `--upload-priority "high": invalid syntax`},
		{local("x", "--populate=maybe"), `--populate="maybe": not true or false`},
		{local("x", "--endpoint", "https://s3.example"), "--endpoint is for --kind s3 only"},
		{[]string{"stores", "add", "x", "--kind", "local", "--dir", "rel/dir", "--base-url", "http://o.example"}, `--dir "rel/dir" is not an absolute path`},
		{[]string{"stores", "add", "x", "--kind", "local", "--dir", dir, "--base-url", "ftp://o.example"}, `--base-url "ftp://o.example" is not an http(s) base URL`},
		{[]string{"stores", "add", "x", "--kind", "local", "--dir", dir}, `--base-url "" is required`},
		{[]string{"stores", "add", "x", "--kind", "http"}, `--base-url "" is required`},
		{[]string{"stores", "add", "x", "--kind", "http", "--base-url", "https://cache.example", "--write-only"}, "--write-only true cannot be set on an http store"},
		{[]string{"stores", "add", "x", "--kind", "http", "--base-url", "https://cache.example", "--dir", dir}, "--dir is for --kind local only"},
		{[]string{"stores", "add", "x", "--kind", "s3", "--region", "eu", "--bucket", "nars"}, "--endpoint: s3: endpoint is required"},
		{[]string{"stores", "add", "x", "--kind", "s3", "--endpoint", "https://s3.example", "--region", "eu", "--bucket", "Nars!"}, `--bucket: s3: bucket "Nars!"`},
		{[]string{"stores", "add", "x", "--kind", "s3", "--endpoint", "https://s3.example", "--region", "eu", "--bucket", "nars", "--presign-expiry", "9d"}, `--presign-expiry: s3: presign expiry "9d"`},
		{local("disk"), `add store "disk": a store with this name exists`},
		{local("unwritable"), `store "unwritable" unreachable: write probe`},
		{[]string{"stores", "set", "nobody", "--populate"}, `set store "nobody": unknown store`},
		{[]string{"stores", "set", "disk"}, "nothing to change"},
		{[]string{"stores", "set", "disk", "--populate", "--no-populate"}, "--populate and --no-populate contradict each other"},
		{[]string{"stores", "set", "disk", "--soft-max-size", "11G"}, "--soft-max-size 11811160064 is above --max-size 10737418240"},
		{[]string{"stores", "set", "disk", "--drain=disk"}, `--drain "disk" is the store itself`},
		{[]string{"stores", "set", "disk", "--drain=nowhere"}, `--drain "nowhere" names no store`},
		{[]string{"stores", "set", "disk", "--lat", "100", "--lon", "0"}, "--lat 100 is outside"},
		{[]string{"stores", "show", "nobody"}, `unknown store "nobody"`},
		{[]string{"stores", "missing", "nobody"}, `unknown store "nobody"`},
		{[]string{"stores", "delete", "nobody"}, `delete store "nobody": unknown store`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := tt.args
			if len(args) > 2 {
				args = append(append([]string{}, args...), base...)
			}
			out, errOut, code := narthex(t, args...)
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and %q", code, errOut, tt.want)
			}
			if len(args) > 1 && strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
				t.Errorf("stderr is not one line:\n%s", errOut)
			}
			if out != "" {
				t.Errorf("standard output %q, want none", out)
			}
		})
	}
	if after := storeRows(t, conn); after != before {
		t.Errorf("refused commands changed the registry:\n%s\nwant\n%s", after, before)
	}
	filepath.WalkDir(filepath.Join(dir, "disk"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("the probe of disk left %s", p)
		}
		return err
	})
}

// TestStores_Lifecycle adds stores, lists, shows, sets, deletes them and
// asks what is missing, through the command line.
func TestStores_Lifecycle(t *testing.T) {
	t.Parallel()
	db := pgtest.NewOriginDatabase(t)
	conn := pgtest.Connect(t, db)
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := narthex(t, append(args, "--database-url", db)...)
		if code != 0 {
			t.Fatalf("narthex %q: exit %d: %s", args, code, errOut)
		}
		return out
	}
	run("stores", "add", "old", "--kind", "local", "--dir", filepath.Join(dir, "old"), "--base-url", "http://origin.example",
		"--upload-priority", "90", "--download-priority", "10", "--lat", "50.1", "--lon", "8.7", "--region", "eu",
		"--soft-max-size", "1G", "--max-size", "1.5GiB")
	run("stores", "add", "new", "--kind", "local", "--dir", filepath.Join(dir, "new"), "--base-url", "http://origin.example", "--populate")
	// Flags before the name, and from the environment, as for every command.
	cmd := exec.CommandContext(t.Context(), os.Args[0], "stores", "add", "--kind=local", "--dir", filepath.Join(dir, "third"), "third",
		"--base-url", "http://origin.example", "--database-url", db)
	cmd.Env = append(os.Environ(), "NARTHEX_TEST_AS_MAIN=1", "NARTHEX_DOWNLOAD_PRIORITY=5")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("add third: %v: %s", err, out)
	}

	list := run("stores", "list")
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "new ") ||
		!strings.HasPrefix(lines[2], "old ") || !strings.HasPrefix(lines[3], "third ") {
		t.Fatalf("stores list:\n%s", list)
	}
	for _, want := range []string{"1.0 GiB", "1.5 GiB", "50.1,8.7", "populate", "http://origin.example"} {
		if !strings.Contains(list, want) {
			t.Errorf("stores list lacks %q:\n%s", want, list)
		}
	}
	if s := storeRow(t, db, "third"); s.DownloadPriority == nil || *s.DownloadPriority != 5 {
		t.Errorf("third's download priority %v, want 5 from the environment", s.DownloadPriority)
	}
	old := storeRow(t, db, "old")
	if *old.UploadPriority != 90 || *old.DownloadPriority != 10 || *old.SoftMaxSize != 1<<30 || *old.MaxSize != 3<<29 ||
		*old.Latitude != 50.1 || old.Region != "eu" || !strings.Contains(string(old.Settings), filepath.Join(dir, "old")) {
		t.Errorf("old as added: %+v", old)
	}

	// Payloads: a and b in old; a in new too.
	_, err := conn.Exec(t.Context(), `
		INSERT INTO nar_file (url, file_hash, file_size, compression) VALUES
			('nar/a.nar.xz', 'sha256:a', 1000, 'xz'), ('nar/b.nar.xz', 'sha256:b', 2000, 'xz');
		INSERT INTO payload_location (url, store_id, key, state)
			SELECT u, s.id, u, 'good' FROM store s, unnest(ARRAY['nar/a.nar.xz', 'nar/b.nar.xz']) u WHERE s.name = 'old'
			UNION ALL SELECT 'nar/a.nar.xz', id, 'nar/a.nar.xz', 'good' FROM store WHERE name = 'new'`)
	if err != nil {
		t.Fatal(err)
	}
	if got := run("stores", "missing", "new"); got != "nar/b.nar.xz\n" {
		t.Errorf("stores missing new = %q", got)
	}
	// The table's padding is tabwriter's business: compare words.
	words := func(s string) string {
		lines := strings.Split(s, "\n")
		for i, l := range lines {
			lines[i] = strings.Join(strings.Fields(l), " ")
		}
		return strings.Join(lines, "\n")
	}
	show := words(run("stores", "show", "new"))
	for _, want := range []string{"files 1 (1000 B)", "to populate 1 files", "locations 1 good, 0 missing, 0 corrupt", "verified 0 of 1 good, 1 never", "job none running"} {
		if !strings.Contains(show, want) {
			t.Errorf("stores show new lacks %q:\n%s", want, show)
		}
	}
	show = words(run("stores", "show", "old"))
	if !strings.Contains(show, "limits 0.0% of 1.0 GiB soft max, 0.0% of 1.5 GiB max") || strings.Contains(show, "to populate") {
		t.Errorf("stores show old:\n%s", show)
	}
	var summary placement.Summary
	if err := json.Unmarshal([]byte(run("stores", "show", "old", "--json")), &summary); err != nil || summary.Files != 2 || summary.Bytes != 3000 {
		t.Errorf("stores show --json: %+v, %v", summary, err)
	}

	// Drain old into new: only the drain changes.
	run("stores", "set", "old", "--drain=new", "--upload-priority", "none")
	got := storeRow(t, db, "old")
	if !got.Drain || got.DrainTo != "new" || got.UploadPriority != nil || *got.DownloadPriority != 10 || *got.MaxSize != 3<<29 || *got.Latitude != 50.1 {
		t.Errorf("old after set: %+v", got)
	}
	run("stores", "set", "new", "--no-populate", "--read-only", "--max-size", "20G")
	if got := storeRow(t, db, "new"); got.Populate || !got.ReadOnly || *got.MaxSize != 20<<30 {
		t.Errorf("new after set: %+v", got)
	}
	run("stores", "set", "new", "--populate=true", "--read-only=false", "--max-size", "none")
	if got := storeRow(t, db, "new"); !got.Populate || got.ReadOnly || got.MaxSize != nil {
		t.Errorf("new after the second set: %+v", got)
	}

	// new cannot go while old drains into it; old cannot go while it
	// holds b's last good copy, nor without --force while it holds a.
	refused := []struct {
		args []string
		want string
	}{
		{[]string{"stores", "delete", "new", "--force"}, "other stores drain into it: old"},
		{[]string{"stores", "delete", "old"}, "it holds 2 payload locations: drain it first (narthex stores set old --drain), or give --force"},
		{[]string{"stores", "delete", "old", "--force"}, "last good copy of some payloads: 1 would have no good copy left"},
	}
	for _, r := range refused {
		_, errOut, code := narthex(t, append(r.args, "--database-url", db)...)
		if code != 1 || !strings.Contains(errOut, r.want) {
			t.Errorf("narthex %q: exit %d, stderr %q; want %q", r.args, code, errOut, r.want)
		}
	}
	run("stores", "delete", "third")
	if _, err := conn.Exec(t.Context(), `INSERT INTO payload_location (url, store_id, key) SELECT 'nar/b.nar.xz', id, 'nar/b.nar.xz' FROM store WHERE name = 'new'`); err != nil {
		t.Fatal(err)
	}
	run("stores", "delete", "old", "--force")
	if got := run("stores", "missing", "new"); got != "" {
		t.Errorf("stores missing new after b arrived = %q", got)
	}
	list = run("stores", "list")
	if lines := strings.Split(strings.TrimSpace(list), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "new ") {
		t.Errorf("stores list after deletes:\n%s", list)
	}
}

func TestStores_Help(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"stores", "-h"}, "usage: narthex stores <action>"},
		{[]string{"help", "stores"}, "usage: narthex stores <action>"},
		{[]string{"help", "stores", "add"}, "Usage: narthex stores add NAME [flags]"},
		{[]string{"stores", "add", "-h"}, "Usage: narthex stores add NAME [flags]"},
		{[]string{"stores", "set", "x", "--help"}, "Usage: narthex stores set NAME [flags]"},
		{[]string{"stores", "list", "-h"}, "Usage: narthex stores list [flags]"},
		{[]string{"stores", "show", "-h"}, "Usage: narthex stores show NAME [flags]"},
		{[]string{"stores", "delete", "-h"}, "Usage: narthex stores delete NAME [flags]"},
		{[]string{"stores", "missing", "-h"}, "Usage: narthex stores missing NAME [flags]"},
	}
	for _, tt := range tests {
		out, errOut, code := narthex(t, tt.args...)
		if code != 0 || !strings.HasPrefix(out, tt.want) {
			t.Errorf("narthex %q: exit %d, output:\n%s\nstderr:\n%s\nwant exit 0 and output starting %q", tt.args, code, out, errOut, tt.want)
		}
	}
	out, _, _ := narthex(t, "stores", "add", "-h")
	for _, want := range []string{placement.NameRule, "10G", "-dir", "-presign-expiry", "origin's public URL", "$NARTHEX_KIND"} {
		if !strings.Contains(out, want) {
			t.Errorf("stores add -h lacks %q", want)
		}
	}
}
