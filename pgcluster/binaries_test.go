package pgcluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeBinDir makes a folder whose postgres prints version as
// `postgres --version` does, next to an initdb (unless noInitdb).
func fakeBinDir(t *testing.T, version string, noInitdb bool) string {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\necho 'postgres (PostgreSQL) " + version + " (Debian " + version + "-1)'\n"
	if err := os.WriteFile(filepath.Join(dir, "postgres"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if !noInitdb {
		if err := os.WriteFile(filepath.Join(dir, "initdb"), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSearchBinDir(t *testing.T) {
	t.Parallel()
	v14, v15, v16, v17, v18 := fakeBinDir(t, "14.10", false), fakeBinDir(t, "15.8", false), fakeBinDir(t, "16.4", false), fakeBinDir(t, "17.2", false), fakeBinDir(t, "18.0", false)
	noInitdb := fakeBinDir(t, "16.4", true)
	missing := filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		name    string
		dirs    []string
		want    string // "" for an error
		wantErr string // a substring of the error
	}{
		{"first that qualifies", []string{missing, v16, v15}, v16, ""},
		{"each supported version", []string{v17}, v17, ""},
		{"oldest supported", []string{v15}, v15, ""},
		{"too old skipped", []string{v14, v15}, v15, ""},
		{"initdb missing skipped", []string{noInitdb, v17}, v17, ""},
		{"none", []string{missing}, "", "apt-get install "},
		{"only unsupported versions", []string{v14, v18}, "", "is PostgreSQL 14"},
		{"nothing to search", nil, "", "PostgreSQL 15 to 17 is needed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := searchBinDir(tt.dirs)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("searchBinDir = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("searchBinDir = %q, want an error", got)
			}
			if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("searchBinDir error = %v; want ErrNotInstalled naming %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), ServerPackage()) {
				t.Errorf("error does not name the package %s: %v", ServerPackage(), err)
			}
		})
	}
}

func TestFindBinDir_Given(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	if _, err := FindBinDir(empty); !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), empty) {
		t.Errorf("FindBinDir(empty folder) = %v, want ErrNotInstalled naming the folder", err)
	}
	old := fakeBinDir(t, "13.1", false)
	if _, err := FindBinDir(old); err == nil || !strings.Contains(err.Error(), "PostgreSQL 13") {
		t.Errorf("FindBinDir(PostgreSQL 13) = %v, want an error naming the version", err)
	}
	v16 := fakeBinDir(t, "16.4", false)
	if got, err := FindBinDir(v16); err != nil || got != v16 {
		t.Errorf("FindBinDir(PostgreSQL 16) = %q, %v; want %q", got, err, v16)
	}
}

func TestStart_NotInstalled(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "cluster")
	_, err := Start(t.Context(), Config{Dir: dir, BinDir: t.TempDir()})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Start without binaries = %v, want ErrNotInstalled", err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Start without binaries created %s: %v", dir, err)
	}
}
