package layering

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/narthex-cache/narthex/"

// pkg is one package of the module as go list sees it.
type pkg struct {
	path string   // relative to the module, e.g. "origin"
	deps []string // every package it depends on, transitively, relative to the module
	doc  string
}

// listModule runs go list over the module (non-test imports only).
func listModule(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{join .Deps \" \"}}\t{{.Doc}}", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		path, rest, _ := strings.Cut(sc.Text(), "\t")
		deps, doc, _ := strings.Cut(rest, "\t")
		p := pkg{path: strings.TrimPrefix(path, module), doc: doc}
		for _, d := range strings.Fields(deps) {
			if rel, ok := strings.CutPrefix(d, module); ok {
				p.deps = append(p.deps, rel)
			}
		}
		pkgs[p.path] = p
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

// roles are the packages that each play a part of narthex; shared building
// blocks must never depend on them.
var roles = []string{"origin", "edge", "gc", "loadtest", "cmd/narthex"}

// testOnly are the packages that exist for tests.
var testOnly = []string{"internal/testutil", "internal/pgtest", "internal/nixtest", "internal/layering", "internal/s3test", "internal/netnstest", "internal/pebbletest", "deploy", "replica/replicatest", "replica/replicafill"}

// rules says, for a package (or every package under a prefix ending in
// "/"), which packages it must never depend on, directly or not.
var rules = []struct {
	pkg, why string
	never    []string
}{
	{"origin", "the write side never runs edge or load-test code", []string{"edge", "replication", "replica", "loadtest", "pgcluster"}},
	{"edge", "the read side never runs origin code and never writes", []string{"origin", "loadtest", "pgcluster", "stores/local"}},
	{"replication", "the replicator is a building block of the edge", roles},
	{"replica", "the replica's storage is a building block of the edge", append([]string{"replication"}, roles...)},
	{"stores", "stores only move bytes", append([]string{"replication", "replica", "sql", "placement"}, roles...)},
	{"placement", "the registry and maintenance decide where payloads live; they never run a role", append([]string{"replication", "replica"}, roles...)},
	{"importer", "the importer reaches the origin only over HTTP and the database only through its own queries",
		[]string{"origin", "edge", "replication", "replica", "loadtest", "cmd/narthex"}},
	{"analytics", "fetch counting is a building block of the edge", append([]string{"replication", "replica", "stores", "placement"}, roles...)},
	{"dashboard", "the dashboard only reads the statistics; it never runs a role", append([]string{"replication", "replica", "stores", "placement"}, roles...)},
	{"narinfo", "the narinfo model is shared by every role", append([]string{"replication", "replica", "stores", "sql"}, roles...)},
	{"config", "the shared configuration error knows no part", append([]string{"replication", "replica", "stores", "narinfo", "sql"}, roles...)},
	{"sql", "the schema owns no behaviour", append([]string{"replication", "replica", "stores", "narinfo"}, roles...)},
	{"certstore", "certificate storage is a building block of the origin and the edges", append([]string{"replication", "replica", "stores", "placement"}, roles...)},
	{"tlsconf", "TLS is a building block of the origin and the edges", append([]string{"replication", "replica", "stores", "placement", "sql"}, roles...)},
	{"registry", "the edge registry is a building block of the edge and the tools", append([]string{"replication", "replica", "stores", "placement", "geodns"}, roles...)},
	{"geodns", "GeoDNS configuration only renders what it is given", append([]string{"replication", "replica", "stores", "placement", "registry", "pgcluster"}, roles...)},
	{"pglock", "the advisory lock knows nothing of what it guards", append([]string{"replication", "replica", "stores", "narinfo", "placement"}, roles...)},
	{"gc", "the collector works on the database and the stores; it never runs another role", []string{"origin", "edge", "loadtest", "replication", "replica", "cmd/narthex"}},
	{"pgcluster", "the throwaway PostgreSQL knows nothing of narthex", append([]string{"replication", "replica", "stores", "narinfo", "sql"}, roles...)},
	{"deploy", "the deployment files have no code of their own", append([]string{"replication", "replica", "stores", "sql", "narinfo", "placement"}, roles...)},
	{"loadtest", "the load tool reaches servers only through their public surface", []string{"origin", "edge", "gc", "replication", "replica", "stores", "cmd/narthex"}},
}

func TestImportRules(t *testing.T) {
	pkgs := listModule(t)
	for _, r := range rules {
		for path, p := range pkgs {
			if path != r.pkg && !strings.HasPrefix(path, r.pkg+"/") {
				continue
			}
			for _, d := range p.deps {
				for _, never := range r.never {
					if d == never || strings.HasPrefix(d, never+"/") {
						t.Errorf("%s depends on %s: %s", path, d, r.why)
					}
				}
			}
		}
	}
}

// TestTestOnlyPackages checks that no package that is not itself for tests
// depends on a test helper.
func TestTestOnlyPackages(t *testing.T) {
	for path, p := range listModule(t) {
		if slices.Contains(testOnly, path) {
			continue
		}
		for _, d := range p.deps {
			if slices.Contains(testOnly, d) {
				t.Errorf("%s depends on %s, which is for tests only", path, d)
			}
		}
	}
}

// TestPackageDocs checks that every package says what it is for.
func TestPackageDocs(t *testing.T) {
	for path, p := range listModule(t) {
		if strings.TrimSpace(p.doc) == "" {
			t.Errorf("package %s has no doc comment", path)
		}
	}
}

// TestRulesNameRealPackages keeps the rules honest: a rule about a package
// that is gone, or that no longer exists under that name, checks nothing.
func TestRulesNameRealPackages(t *testing.T) {
	pkgs := listModule(t)
	for _, r := range rules {
		if _, ok := pkgs[r.pkg]; !ok {
			t.Errorf("rule for %s: no such package", r.pkg)
		}
	}
}
